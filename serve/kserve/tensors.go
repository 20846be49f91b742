package kserve

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
)

// The Open Inference Protocol (KServe v2) in the model's terms, shared by its REST and
// gRPC handlers: which input feeds which signature, and the outputs' names and types.
// The input's name picks the signature: image_bytes (BYTES [N], encoded files) feeds
// serving_bytes, image (FP32 [N, S, S, 3], preprocessed pixels) serving_default. The
// outputs are the signatures': probabilities (FP32 [N, classes]) and class_id (INT64 [N]).

const (
	v2Bytes    = "BYTES"
	v2FP32     = "FP32"
	v2Int64    = "INT64"
	v2Platform = "tensorflow_savedmodel"
)

// service answers both bindings over a Backend.
type service struct{ b protocol.Backend }

// v2Tensor is one input tensor as any v2 transport carries it.
type v2Tensor struct {
	name, datatype string
	shape          []int64
	bytes          [][]byte  // BYTES elements
	fp32           []float32 // FP32 elements
}

// v2Input translates the request's inputs (exactly one) to a predictInput.
func v2Input(inputs []v2Tensor, size, maxN int) (*protocol.Input, error) {
	if len(inputs) != 1 {
		return nil, protocol.BadRequest("%d inputs: give exactly one, %q (%s, encoded JPEG, PNG or DICOM files) or %q (%s, preprocessed pixels)",
			len(inputs), savedmodels.InputImageBytes, v2Bytes, savedmodels.InputImage, v2FP32)
	}
	t := inputs[0]
	var sig, dtype string
	switch t.name {
	case savedmodels.InputImageBytes:
		sig, dtype = savedmodels.SignatureBytes, v2Bytes
	case savedmodels.InputImage:
		sig, dtype = savedmodels.SignatureDefault, v2FP32
	default:
		return nil, protocol.BadRequest("unknown input %q: the model takes %q (%s) or %q (%s)", t.name, savedmodels.InputImageBytes, v2Bytes, savedmodels.InputImage, v2FP32)
	}
	if t.datatype != dtype {
		return nil, protocol.BadRequest("input %q: datatype %s, want %s", t.name, t.datatype, dtype)
	}
	_, perImage, _ := protocol.SignatureInput(sig, size)
	in := &protocol.Input{Signature: sig}
	if dtype == v2Bytes {
		if _, err := protocol.CheckShape("input "+t.name, t.shape, nil, len(t.bytes), maxN); err != nil {
			return nil, err
		}
		in.Files = t.bytes
		return in, nil
	}
	n, err := protocol.CheckShape("input "+t.name, t.shape, perImage, len(t.fp32), maxN)
	if err != nil {
		return nil, err
	}
	in.Pixels = protocol.SplitPixels(t.fp32, n)
	return in, nil
}

// v2Output is one output tensor of an answer.
type v2Output struct {
	name, datatype string
	shape          []int64
	fp32           []float32
	int64s         []int64
}

// raw is the output's elements little-endian, as the binary extension and
// raw_output_contents carry them.
func (o *v2Output) raw() []byte {
	if o.fp32 != nil {
		b := make([]byte, 4*len(o.fp32))
		for i, f := range o.fp32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		return b
	}
	b := make([]byte, 8*len(o.int64s))
	for i, v := range o.int64s {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

// v2Outputs are the outputs asked for (all when none is named), in the asked order.
func v2Outputs(out *protocol.Output, requested []string) ([]v2Output, error) {
	n := int64(len(out.Probs))
	all := map[string]v2Output{
		savedmodels.OutputProbabilities: {name: savedmodels.OutputProbabilities, datatype: v2FP32, shape: []int64{n, int64(out.Classes)}, fp32: out.FlatProbs()},
		savedmodels.OutputClassID:       {name: savedmodels.OutputClassID, datatype: v2Int64, shape: []int64{n}, int64s: out.IDs64()},
	}
	if len(requested) == 0 {
		requested = []string{savedmodels.OutputProbabilities, savedmodels.OutputClassID}
	}
	res := make([]v2Output, 0, len(requested))
	for _, name := range requested {
		o, ok := all[name]
		if !ok {
			return nil, protocol.BadRequest("unknown output %q: the model has %q and %q", name, savedmodels.OutputProbabilities, savedmodels.OutputClassID)
		}
		res = append(res, o)
	}
	return res, nil
}

// rawBytesElements splits a BYTES tensor's binary form: each element a 4-byte
// little-endian length, then that many bytes; more than max elements is an error.
func rawBytesElements(raw []byte, max int) ([][]byte, error) {
	var out [][]byte
	for len(raw) > 0 {
		if len(out) >= max {
			return nil, fmt.Errorf("more than the server's limit of %d images per request", max)
		}
		if len(raw) < 4 {
			return nil, fmt.Errorf("BYTES data ends inside an element's 4-byte length")
		}
		n := binary.LittleEndian.Uint32(raw)
		if uint64(n) > uint64(len(raw)-4) {
			return nil, fmt.Errorf("BYTES element of %d bytes, but only %d remain", n, len(raw)-4)
		}
		out = append(out, raw[4:4+n:4+n])
		raw = raw[4+n:]
	}
	return out, nil
}

// rawFP32 reads little-endian float32 values.
func rawFP32(raw []byte) ([]float32, error) {
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("FP32 data of %d bytes is not whole 4-byte values", len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// v2TensorMeta and v2ModelMeta are the model metadata's JSON (and, translated, its proto).
type v2TensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type v2ModelMeta struct {
	Name     string         `json:"name"`
	Versions []string       `json:"versions"`
	Platform string         `json:"platform"`
	Inputs   []v2TensorMeta `json:"inputs"`
	Outputs  []v2TensorMeta `json:"outputs"`
}

// v2Metadata describes the version that p names: both inputs (a request gives one).
func (s *service) v2Metadata(p protocol.ModelPath) (*v2ModelMeta, error) {
	v, release, err := s.b.Acquire(p)
	if err != nil {
		return nil, err
	}
	defer release()
	size := int64(v.Meta.InputSize)
	return &v2ModelMeta{
		Name: p.Name, Versions: []string{strconv.FormatInt(v.N, 10)}, Platform: v2Platform,
		Inputs: []v2TensorMeta{
			{savedmodels.InputImageBytes, v2Bytes, []int64{-1}},
			{savedmodels.InputImage, v2FP32, []int64{-1, size, size, 3}},
		},
		Outputs: []v2TensorMeta{
			{savedmodels.OutputProbabilities, v2FP32, []int64{-1, int64(len(v.Meta.Classes))}},
			{savedmodels.OutputClassID, v2Int64, []int64{-1}},
		},
	}, nil
}

// v2ServerMeta is GET /v2's answer and ServerMetadata's.
func v2ServerMeta() (name, version string, extensions []string) {
	return "xray", buildinfo.Version, []string{"binary_tensor_data"}
}

// v2ModelReady reports the named version's readiness; an unknown model or version is
// an error (404 / NOT_FOUND), as Triton's.
func (s *service) v2ModelReady(p protocol.ModelPath) error {
	_, release, err := s.b.Acquire(p)
	if err != nil {
		return err
	}
	release()
	if s.b.Draining() {
		return protocol.Errorf(http.StatusServiceUnavailable, "draining")
	}
	return nil
}
