package kserve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/xraylab/xray/serve/protocol"
)

// The Open Inference Protocol's REST binding (KServe v2): health, server and model
// metadata, readiness and infer, with Triton's binary tensor data extension (tritonclient
// uses it by default). Errors are {"error": "..."}, the protocol's shape and TensorFlow
// Serving's.

// Routes mounts the /v2 routes on rt, under the same chain (log, metrics, token) and
// limits as /v1.
func Routes(rt protocol.Router, b protocol.Backend) {
	s := &service{b}
	mux, api := rt.Mux, rt.API
	mux.Handle("GET /v2/health/live", rt.Probe("v2_live", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, map[string]bool{"live": true})
	}))
	mux.Handle("GET /v2/health/ready", rt.Probe("v2_ready", func(w http.ResponseWriter, r *http.Request) {
		ready, code := b.Ready(), http.StatusOK
		if !ready {
			code = http.StatusServiceUnavailable
		}
		protocol.WriteJSON(w, code, map[string]bool{"ready": ready})
	}))
	mux.Handle("GET /v2", api("v2_server", func(w http.ResponseWriter, r *http.Request) error {
		name, version, ext := v2ServerMeta()
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"name": name, "version": version, "extensions": ext})
		return nil
	}))
	for _, base := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		mux.Handle("GET "+base, api("v2_model", s.v2ModelGet))
		mux.Handle("GET "+base+"/ready", api("v2_model_ready", s.v2ModelReadyGet))
		mux.Handle("POST "+base+"/infer", api("v2_infer", s.v2Infer))
	}
}

// v2Path is the model and version of a /v2/models/NAME[/versions/V] path.
func v2Path(r *http.Request) (protocol.ModelPath, error) {
	n, err := protocol.ParseVersion(r.PathValue("version"))
	return protocol.ModelPath{Name: r.PathValue("name"), Version: n}, err
}

func (s *service) v2ModelGet(w http.ResponseWriter, r *http.Request) error {
	p, err := v2Path(r)
	if err != nil {
		return err
	}
	m, err := s.v2Metadata(p)
	if err != nil {
		return err
	}
	protocol.WriteJSON(w, http.StatusOK, m)
	return nil
}

func (s *service) v2ModelReadyGet(w http.ResponseWriter, r *http.Request) error {
	p, err := v2Path(r)
	if err != nil {
		return err
	}
	if err := s.v2ModelReady(p); err != nil {
		return err
	}
	protocol.WriteJSON(w, http.StatusOK, map[string]any{"name": p.Name, "ready": true})
	return nil
}

// v2RESTRequest is an infer request's JSON (the header part under the binary extension).
type v2RESTRequest struct {
	ID         string         `json:"id"`
	Parameters map[string]any `json:"parameters"`
	Inputs     []struct {
		Name       string         `json:"name"`
		Datatype   string         `json:"datatype"`
		Shape      []int64        `json:"shape"`
		Parameters map[string]any `json:"parameters"`
		Data       jsonSpan       `json:"data"`
	} `json:"inputs"`
	Outputs []struct {
		Name       string         `json:"name"`
		Parameters map[string]any `json:"parameters"`
	} `json:"outputs"`
}

// v2Infer answers POST /v2/models/NAME[/versions/V]/infer.
func (s *service) v2Infer(w http.ResponseWriter, r *http.Request) error {
	p, err := v2Path(r)
	if err != nil {
		return err
	}
	body, err := s.b.ReadBody(r)
	if err != nil {
		return err
	}
	header, bin := body, []byte(nil)
	if h := r.Header.Get("Inference-Header-Content-Length"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > len(body) {
			return protocol.BadRequest("Inference-Header-Content-Length %q: not a length within the %d-byte body", h, len(body))
		}
		header, bin = body[:n], body[n:]
	}
	var req v2RESTRequest
	if err := json.Unmarshal(header, &req); err != nil {
		return protocol.BadRequest("request body is not a v2 inference request (JSON object with \"inputs\"): %v", jsonProblem(err))
	}
	// The tensors are read once the model's input size is known, so that no list can
	// grow past what the largest acceptable request holds.
	out, err := s.b.Predict(r.Context(), p, func(size int) (*protocol.Input, error) {
		lim := limits{elements: s.b.MaxInstances(), floats: s.b.MaxInstances() * size * size * 3}
		tensors := make([]v2Tensor, len(req.Inputs))
		for i, in := range req.Inputs {
			t := v2Tensor{name: in.Name, datatype: in.Datatype, shape: in.Shape}
			if bin, err = v2RESTData(&t, in.Parameters, in.Data, bin, lim); err != nil {
				return nil, protocol.BadRequest("input %q: %v", in.Name, err)
			}
			tensors[i] = t
		}
		if len(bin) > 0 {
			return nil, protocol.BadRequest("%d bytes of binary data after the inputs' binary_data_size", len(bin))
		}
		return v2Input(tensors, size, s.b.MaxInstances())
	})
	if err != nil {
		return err
	}
	names := make([]string, len(req.Outputs))
	binaryOut := map[string]bool{}
	for i, o := range req.Outputs {
		names[i] = o.Name
		binaryOut[o.Name] = o.Parameters["binary_data"] == true
	}
	outs, err := v2Outputs(out, names)
	if err != nil {
		return err
	}
	allBinary := req.Parameters["binary_data_output"] == true
	return writeV2Answer(w, p.Name, out.Version, req.ID, outs, func(name string) bool {
		b, ok := binaryOut[name]
		return b || (!ok && allBinary)
	})
}

// v2RESTData fills t's elements from its JSON data or, when its parameters give a
// binary_data_size, from the front of bin; it returns what is left of bin.
func v2RESTData(t *v2Tensor, params map[string]any, data jsonSpan, bin []byte, lim limits) ([]byte, error) {
	if sz, ok := params["binary_data_size"]; ok {
		f, isNum := sz.(float64)
		if !isNum || f < 0 || f > float64(len(bin)) || f != float64(int(f)) {
			return nil, fmt.Errorf("binary_data_size %v: not a size within the %d bytes of binary data left", sz, len(bin))
		}
		raw := bin[:int(f)]
		return bin[int(f):], t.fill(func() ([][]byte, error) { return rawBytesElements(raw, lim.elements) },
			func() ([]float32, error) { return rawFP32(raw) })
	}
	if len(data) == 0 {
		return bin, fmt.Errorf("no \"data\" (and no binary_data_size)")
	}
	return bin, t.fill(func() ([][]byte, error) { return jsonBytes(data, params["content_type"] == "base64", lim.elements) },
		func() ([]float32, error) { return jsonFloats(data, min(lim.floats, maxFloats(t.shape))) })
}

// fill sets t's elements by its datatype, BYTES through readBytes and FP32 through
// readFP32: the one datatype check of both the binary and the JSON form.
func (t *v2Tensor) fill(readBytes func() ([][]byte, error), readFP32 func() ([]float32, error)) error {
	var err error
	switch t.datatype {
	case v2Bytes:
		t.bytes, err = readBytes()
	case v2FP32:
		t.fp32, err = readFP32()
	default:
		err = fmt.Errorf("datatype %q: this model takes %s or %s", t.datatype, v2Bytes, v2FP32)
	}
	return err
}

// maxFloats bounds the FP32 values worth reading: the shape's product (clamped), so a
// body of numbers cannot grow past what the shape, checked later, could accept.
func maxFloats(shape []int64) int {
	total := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && total > (1<<31)/d) {
			return 0
		}
		total *= d
	}
	return int(total)
}

// limits bound what one request's tensors may hold: images (elements of a BYTES
// tensor) and FP32 values.
type limits struct{ elements, floats int }

// jsonSpan is a JSON value kept as a slice of the request body (json.RawMessage would
// copy it): the body outlives the request's decoding.
type jsonSpan []byte

func (j *jsonSpan) UnmarshalJSON(b []byte) error {
	*j = b
	return nil
}

// jsonBytes reads BYTES data: strings (flat or nested), each an element's bytes, or its
// base64 when the input's parameters say "content_type": "base64"; {"b64": "..."}
// (TensorFlow Serving's form) is also taken. At most max elements are read.
func jsonBytes(data []byte, b64 bool, max int) ([][]byte, error) {
	errShape := fmt.Errorf("BYTES data must be strings (or {\"b64\": ...}) in lists")
	dec := json.NewDecoder(bytes.NewReader(data))
	var out [][]byte
	add := func(s string, decode bool) error {
		if len(out) >= max {
			return fmt.Errorf("more than the server's limit of %d images per request", max)
		}
		b := []byte(s)
		if decode {
			var err error
			if b, err = base64.StdEncoding.DecodeString(s); err != nil {
				return fmt.Errorf("element %d is not base64: %v", len(out), err)
			}
		}
		out = append(out, b)
		return nil
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, jsonProblem(err)
		}
		switch x := tok.(type) {
		case json.Delim: // lists nest; an object is {"b64": "..."}
			if x != '{' {
				continue
			}
			key, _ := dec.Token()
			val, _ := dec.Token()
			end, err := dec.Token()
			s, ok := val.(string)
			if key != "b64" || !ok || end != json.Delim('}') || err != nil {
				return nil, errShape
			}
			if err := add(s, true); err != nil {
				return nil, err
			}
		case string:
			if err := add(x, b64); err != nil {
				return nil, err
			}
		default:
			return nil, errShape
		}
	}
}

// jsonFloats reads FP32 data, flat or nested lists of numbers, streaming: at most limit
// values are kept, so memory is bounded by the declared shape, not by the body.
func jsonFloats(data []byte, limit int) ([]float32, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []float32
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, jsonProblem(err)
		}
		switch x := tok.(type) {
		case json.Delim:
			if x == '{' || x == '}' {
				return nil, fmt.Errorf("FP32 data must be numbers in (nested) lists")
			}
		case json.Number:
			if len(out) >= limit {
				return nil, fmt.Errorf("more FP32 values than the shape's %d", limit)
			}
			f, err := strconv.ParseFloat(string(x), 32)
			if err != nil {
				return nil, fmt.Errorf("FP32 value %s: %v", x, err)
			}
			out = append(out, float32(f))
		default:
			return nil, fmt.Errorf("FP32 data must be numbers, not %v", tok)
		}
	}
}

// jsonProblem keeps a JSON error's words and drops Go's type names.
func jsonProblem(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: JSON %s where another type belongs", te.Field, te.Value)
	}
	return err
}

// writeV2Answer writes the infer response: JSON data, or, for the outputs binary says,
// Triton's binary tensor data after the JSON header.
func writeV2Answer(w http.ResponseWriter, model string, version int64, id string, outs []v2Output, binary func(string) bool) error {
	type jsonOut struct {
		Name       string         `json:"name"`
		Datatype   string         `json:"datatype"`
		Shape      []int64        `json:"shape"`
		Parameters map[string]any `json:"parameters,omitempty"`
		Data       any            `json:"data,omitempty"`
	}
	var tail []byte
	js := make([]jsonOut, len(outs))
	for i, o := range outs {
		js[i] = jsonOut{Name: o.name, Datatype: o.datatype, Shape: o.shape}
		switch {
		case binary(o.name):
			raw := o.raw()
			js[i].Parameters = map[string]any{"binary_data_size": len(raw)}
			tail = append(tail, raw...)
		case o.fp32 != nil:
			js[i].Data = o.fp32
		default:
			js[i].Data = o.int64s
		}
	}
	head, err := json.Marshal(map[string]any{"model_name": model, "model_version": strconv.FormatInt(version, 10), "id": id, "outputs": js})
	if err != nil { // NaN or Infinity from NaN or Infinity pixels: JSON has no words for them
		return protocol.BadRequest("the outputs hold values JSON cannot carry (%v): ask for them as binary data (\"binary_data\": true)", err)
	}
	if tail == nil {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Inference-Header-Content-Length", strconv.Itoa(len(head)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(tail)))
	w.WriteHeader(http.StatusOK)
	w.Write(head)
	w.Write(tail)
	return nil
}
