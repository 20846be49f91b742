package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/xraylab/xray/savedmodels"
	"google.golang.org/protobuf/encoding/protojson"
)

// modelPath is a parsed /v1/models/... path: NAME[/versions/N][/metadata][:VERB].
type modelPath struct {
	name     string
	version  int64 // 0: the serving one
	metadata bool
	verb     string
}

func parseModelPath(rest string) (modelPath, error) {
	var p modelPath
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest, p.verb = rest[:i], rest[i+1:]
	}
	seg := strings.Split(rest, "/")
	p.name, seg = seg[0], seg[1:]
	if len(seg) >= 2 && seg[0] == "versions" {
		n, err := strconv.ParseInt(seg[1], 10, 64)
		if err != nil || n < 0 {
			return p, badRequest("version %q is not a number", seg[1])
		}
		p.version, seg = n, seg[2:]
	}
	if len(seg) == 1 && seg[0] == "metadata" {
		p.metadata, seg = true, nil
	}
	if len(seg) > 0 || p.name == "" {
		return p, errorf(http.StatusNotFound, "malformed request: /v1/models/%s", rest)
	}
	return p, nil
}

// resolve finds the path's model and version (0: its highest available), held until
// release is called.
func (s *Server) resolve(p modelPath) (v *version, release func(), err error) {
	m := s.byName[p.name]
	if m == nil {
		return nil, nil, errorf(http.StatusNotFound, "Servable not found for request: Latest(%s)", p.name)
	}
	v, release = m.acquireVersion(p.version)
	switch {
	case v != nil:
		return v, release, nil
	case p.version != 0:
		return nil, nil, errorf(http.StatusNotFound, "Servable not found for request: Specific(%s, %d)%s", p.name, p.version, m.servedNote())
	case len(m.versionStatus(0)) > 0:
		return nil, nil, errorf(http.StatusNotFound, "Servable not found for request: Latest(%s): no version available (see GET /v1/models/%s)", p.name, p.name)
	}
	return nil, nil, errorf(http.StatusServiceUnavailable, "no model version loaded; retry later")
}

// servedNote names the versions available, for a 404.
func (m *manager) servedNote() string {
	var vs []string
	for _, st := range m.versionStatus(0) {
		if st.State == StateAvailable {
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
func (s *Server) modelStatus(p modelPath) ([]VersionStatus, error) {
	m := s.byName[p.name]
	if m == nil {
		return nil, errorf(http.StatusNotFound, "Could not find any versions of model %s", p.name)
	}
	st := m.versionStatus(p.version)
	if len(st) == 0 {
		if p.version != 0 {
			return nil, errorf(http.StatusNotFound, "Could not find version %d of model %s", p.version, p.name)
		}
		return nil, errorf(http.StatusNotFound, "Could not find any versions of model %s", p.name)
	}
	return st, nil
}

// modelGet answers GET /v1/models/NAME[/versions/N] (version status) and .../metadata.
func (s *Server) modelGet(w http.ResponseWriter, r *http.Request) error {
	p, err := parseModelPath(r.PathValue("rest"))
	if err != nil {
		return err
	}
	if p.verb != "" {
		return errorf(http.StatusMethodNotAllowed, ":%s takes POST", p.verb)
	}
	if !p.metadata {
		sts, err := s.modelStatus(p)
		if err != nil {
			return err
		}
		out := make([]any, len(sts))
		for i, st := range sts {
			out[i] = map[string]any{"version": strconv.FormatInt(st.Version, 10), "state": st.State,
				"status": map[string]string{"error_code": st.ErrorCode, "error_message": st.ErrorMessage}}
		}
		writeJSON(w, http.StatusOK, map[string]any{"model_version_status": out})
		return nil
	}
	v, release, err := s.resolve(p)
	if err != nil {
		return err
	}
	defer release()
	ver := strconv.FormatInt(v.n, 10)
	defs := map[string]json.RawMessage{}
	for name, sig := range v.sigs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(sig)
		if err != nil {
			return err
		}
		defs[name] = b
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model_spec": map[string]string{"name": p.name, "signature_name": "", "version": ver},
		"metadata": map[string]any{"signature_def": map[string]any{
			"signature_def": defs,
			"@type":         "type.googleapis.com/tensorflow.serving.SignatureDefMap",
		}},
	})
	return nil
}

// modelPost answers POST /v1/models/NAME[/versions/N]:predict.
func (s *Server) modelPost(w http.ResponseWriter, r *http.Request) error {
	p, err := parseModelPath(r.PathValue("rest"))
	if err != nil {
		return err
	}
	if p.verb != "predict" || p.metadata {
		return badRequest("only :predict is served (this model has no classify or regress signature); POST /v1/classify takes an image file")
	}
	v, release, err := s.resolve(p)
	if err != nil {
		return err
	}
	defer release()
	in, err := decodePredict(r.Body, v.meta.InputSize, s.cfg.MaxInstances)
	var re *readError
	if errors.As(err, &re) {
		return s.bodyError(re.err)
	}
	if err != nil {
		return err
	}
	s.metrics.images.Observe(float64(in.len()))
	var preds []savedmodels.Prediction
	if in.files != nil {
		for i, b := range in.files {
			if err := s.checkImage(fmt.Sprintf("instance %d", i), b); err != nil {
				return err
			}
		}
		preds, err = v.model.PredictBytes(r.Context(), in.files...)
	} else {
		preds, err = v.model.PredictPixels(r.Context(), in.pixels...)
	}
	if err != nil {
		return err
	}
	probs := make([][]jsonFloat, len(preds))
	ids := make([]int, len(preds))
	for i, pr := range preds {
		if pr.Err != nil {
			return badRequest("instance %d: %v", i, pr.Err)
		}
		probs[i], ids[i] = probFloats(pr.Probabilities[:]), pr.Class
	}
	if in.columnar {
		return writePredictJSON(w, map[string]any{"outputs": map[string]any{
			savedmodels.OutputProbabilities: probs, savedmodels.OutputClassID: ids}})
	}
	rows := make([]map[string]any, len(preds))
	for i := range preds {
		rows[i] = map[string]any{savedmodels.OutputProbabilities: probs[i], savedmodels.OutputClassID: ids[i]}
	}
	return writePredictJSON(w, map[string]any{"predictions": rows})
}

// jsonFloat is a probability as TensorFlow Serving writes it: NaN and the infinities as
// the bare words NaN, Infinity and -Infinity (encoding/json refuses them), which
// Python's json and TensorFlow Serving's clients read.
type jsonFloat float32

// nanWords are placeholders MarshalJSON writes, replaced by the bare words after encoding.
var nanWords = map[string]string{`"\u0000NaN"`: "NaN", `"\u0000Infinity"`: "Infinity", `"\u0000-Infinity"`: "-Infinity"}

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"\u0000NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"\u0000Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"\u0000-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 32), nil
}

func probFloats(p []float32) []jsonFloat {
	out := make([]jsonFloat, len(p))
	for i, v := range p {
		out[i] = jsonFloat(v)
	}
	return out
}

// writePredictJSON writes v as writeJSON does, with jsonFloat's bare words.
func writePredictJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	for k, word := range nanWords {
		b = bytes.ReplaceAll(b, []byte(k), []byte(word))
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(append(b, '\n'))
	return err
}
