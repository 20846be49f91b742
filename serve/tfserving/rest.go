package tfserving

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
	"google.golang.org/protobuf/encoding/protojson"
)

// service answers TensorFlow Serving's REST and gRPC APIs over a Backend.
type service struct{ b protocol.Backend }

// Routes mounts TensorFlow Serving's REST API, GET and POST /v1/models/..., on rt.
func Routes(rt protocol.Router, b protocol.Backend) {
	s := &service{b}
	rt.Mux.Handle("GET /v1/models/{rest...}", rt.API("model", s.modelGet))
	rt.Mux.Handle("POST /v1/models/{rest...}", rt.API("predict", s.modelPost))
}

// modelPath is a parsed /v1/models/... path: NAME[/versions/N][/metadata][:VERB].
type modelPath struct {
	protocol.ModelPath // Version 0: the serving one
	metadata           bool
	verb               string
}

func parseModelPath(rest string) (modelPath, error) {
	var p modelPath
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest, p.verb = rest[:i], rest[i+1:]
	}
	seg := strings.Split(rest, "/")
	p.Name, seg = seg[0], seg[1:]
	if len(seg) >= 2 && seg[0] == "versions" {
		n, err := strconv.ParseInt(seg[1], 10, 64)
		if err != nil || n < 0 {
			return p, protocol.BadRequest("version %q is not a number", seg[1])
		}
		p.Version, seg = n, seg[2:]
	}
	if len(seg) == 1 && seg[0] == "metadata" {
		p.metadata, seg = true, nil
	}
	if len(seg) > 0 || p.Name == "" {
		return p, protocol.Errorf(http.StatusNotFound, "malformed request: /v1/models/%s", rest)
	}
	return p, nil
}

// modelGet answers GET /v1/models/NAME[/versions/N] (version status) and .../metadata.
func (s *service) modelGet(w http.ResponseWriter, r *http.Request) error {
	p, err := parseModelPath(r.PathValue("rest"))
	if err != nil {
		return err
	}
	if p.verb != "" {
		return protocol.Errorf(http.StatusMethodNotAllowed, ":%s takes POST", p.verb)
	}
	if !p.metadata {
		sts, err := s.b.Status(p.ModelPath)
		if err != nil {
			return err
		}
		out := make([]any, len(sts))
		for i, st := range sts {
			out[i] = map[string]any{"version": strconv.FormatInt(st.Version, 10), "state": st.State,
				"status": map[string]string{"error_code": st.ErrorCode, "error_message": st.ErrorMessage}}
		}
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"model_version_status": out})
		return nil
	}
	v, release, err := s.b.Acquire(p.ModelPath)
	if err != nil {
		return err
	}
	defer release()
	ver := strconv.FormatInt(v.N, 10)
	defs := map[string]json.RawMessage{}
	for name, sig := range v.Sigs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(sig)
		if err != nil {
			return err
		}
		defs[name] = b
	}
	protocol.WriteJSON(w, http.StatusOK, map[string]any{
		"model_spec": map[string]string{"name": p.Name, "signature_name": "", "version": ver},
		"metadata": map[string]any{"signature_def": map[string]any{
			"signature_def": defs,
			"@type":         "type.googleapis.com/tensorflow.serving.SignatureDefMap",
		}},
	})
	return nil
}

// modelPost answers POST /v1/models/NAME[/versions/N]:predict.
func (s *service) modelPost(w http.ResponseWriter, r *http.Request) error {
	p, err := parseModelPath(r.PathValue("rest"))
	if err != nil {
		return err
	}
	if p.verb != "predict" || p.metadata {
		return protocol.BadRequest("only :predict is served (this model has no classify or regress signature); POST /v1/classify takes an image file")
	}
	var columnar bool
	out, err := s.b.Predict(r.Context(), p.ModelPath, func(size int) (*protocol.Input, error) {
		in, err := decodePredict(r.Body, size, s.b.MaxInstances())
		var re *readError
		if errors.As(err, &re) {
			return nil, s.b.BodyError(re.err)
		}
		if in != nil {
			columnar = in.Columnar
		}
		return in, err
	})
	if err != nil {
		return err
	}
	probs := make([][]jsonFloat, len(out.Probs))
	for i, pr := range out.Probs {
		probs[i] = probFloats(pr)
	}
	if columnar {
		return writePredictJSON(w, map[string]any{"outputs": map[string]any{
			savedmodels.OutputProbabilities: probs, savedmodels.OutputClassID: out.IDs}})
	}
	rows := make([]map[string]any, len(probs))
	for i := range probs {
		rows[i] = map[string]any{savedmodels.OutputProbabilities: probs[i], savedmodels.OutputClassID: out.IDs[i]}
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
