package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
	"github.com/xraylab/xray/serve/versions"
)

// The Server as the protocols' protocol.Backend: every wire format (serve/tfserving,
// serve/kserve) turns its request into a protocol.Input, runs it through Predict here,
// and turns the protocol.Output back into its own tensors. The limits, the checks and the
// model call are here, once.

// backend is the Server seen by the protocol packages.
type backend struct{ s *Server }

var _ protocol.Backend = backend{}

func (b backend) Acquire(p protocol.ModelPath) (*versions.Version, func(), error) {
	return b.s.resolve(p)
}
func (b backend) Status(p protocol.ModelPath) ([]versions.Status, error) { return b.s.modelStatus(p) }
func (b backend) Predict(ctx context.Context, p protocol.ModelPath, decode func(size int) (*protocol.Input, error)) (*protocol.Output, error) {
	return b.s.predict(ctx, p, decode)
}
func (b backend) Draining() bool            { return b.s.draining.Load() }
func (b backend) MaxInstances() int         { return b.s.cfg.MaxInstances }
func (b backend) BodyError(err error) error { return b.s.bodyError(err) }

// Ready reports whether the server takes requests (the first model has a version, not draining).
func (b backend) Ready() bool {
	v, release := b.s.models.Acquire(0)
	defer release()
	return v != nil && !b.s.draining.Load()
}

// ReadBody reads the body into one buffer of its announced length (io.ReadAll would
// grow and copy it: twice the memory for a body near the limit), else as readBody does.
func (b backend) ReadBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= b.s.cfg.MaxBodyBytes {
		buf := make([]byte, n)
		_, err := io.ReadFull(r.Body, buf)
		return buf, b.s.bodyError(err)
	}
	return b.s.readBody(r.Body)
}

// predict resolves the model and version of p, lets decode translate the request with
// that version's input size, checks each file (empty, over MaxPixels) and runs the model.
// decode is called with the version held, so a hot swap cannot change the size under it.
func (s *Server) predict(ctx context.Context, p protocol.ModelPath, decode func(size int) (*protocol.Input, error)) (*protocol.Output, error) {
	v, release, err := s.resolve(p)
	if err != nil {
		return nil, err
	}
	defer release()
	in, err := decode(v.Meta.InputSize)
	if err != nil {
		return nil, err
	}
	if n := in.Len(); n == 0 {
		return nil, badRequest("no instances: send at least one image")
	} else if n > s.cfg.MaxInstances {
		return nil, badRequest("%d instances, over the server's limit of %d per request: split the request", n, s.cfg.MaxInstances)
	}
	s.metrics.images.Observe(float64(in.Len()))
	var preds []savedmodels.Prediction
	if in.Files != nil {
		for i, b := range in.Files {
			if err := s.checkImage(fmt.Sprintf("instance %d", i), b); err != nil {
				return nil, err
			}
		}
		preds, err = v.Model.PredictBytes(ctx, in.Files...)
	} else {
		preds, err = v.Model.PredictPixels(ctx, in.Pixels...)
	}
	if err != nil {
		return nil, err
	}
	out := &protocol.Output{Version: v.N, Classes: len(v.Meta.Classes), Probs: make([][]float32, len(preds)), IDs: make([]int, len(preds))}
	for i, pr := range preds {
		if pr.Err != nil {
			return nil, badRequest("instance %d: %v", i, pr.Err)
		}
		out.Probs[i], out.IDs[i] = pr.Probabilities, pr.Class
		out.Classes = len(pr.Probabilities)
	}
	return out, nil
}

// resolve finds the path's model and version (0: its highest available), held until
// release is called.
func (s *Server) resolve(p protocol.ModelPath) (v *versions.Version, release func(), err error) {
	m := s.byName[p.Name]
	if m == nil {
		return nil, nil, errorf(http.StatusNotFound, "Servable not found for request: Latest(%s)", p.Name)
	}
	v, release = m.Acquire(p.Version)
	switch {
	case v != nil:
		return v, release, nil
	case p.Version != 0:
		return nil, nil, errorf(http.StatusNotFound, "Servable not found for request: Specific(%s, %d)%s", p.Name, p.Version, servedNote(m))
	case len(m.Status(0)) > 0:
		return nil, nil, errorf(http.StatusNotFound, "Servable not found for request: Latest(%s): no version available (see GET /v1/models/%s)", p.Name, p.Name)
	}
	return nil, nil, errorf(http.StatusServiceUnavailable, "no model version loaded; retry later")
}

// servedNote names the versions available, for a 404.
func servedNote(m *versions.Manager) string {
	var vs []string
	for _, st := range m.Status(0) {
		if st.State == versions.StateAvailable {
			vs = append(vs, strconv.FormatInt(st.Version, 10))
		}
	}
	if len(vs) == 0 {
		return "; no version is available"
	}
	return "; available: " + strings.Join(vs, ", ")
}

// modelStatus is GetModelStatus for the path's model: every version aspired so far, or
// the one the path names.
func (s *Server) modelStatus(p protocol.ModelPath) ([]versions.Status, error) {
	m := s.byName[p.Name]
	if m == nil {
		return nil, errorf(http.StatusNotFound, "Could not find any versions of model %s", p.Name)
	}
	st := m.Status(p.Version)
	if len(st) == 0 {
		if p.Version != 0 {
			return nil, errorf(http.StatusNotFound, "Could not find version %d of model %s", p.Version, p.Name)
		}
		return nil, errorf(http.StatusNotFound, "Could not find any versions of model %s", p.Name)
	}
	return st, nil
}
