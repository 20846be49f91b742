package protocol

import (
	"fmt"
	"strconv"

	"github.com/xraylab/xray/savedmodels"
)

// The translation layer. Every wire format (TensorFlow Serving REST and gRPC, the Open
// Inference Protocol's REST and gRPC) turns its request into an Input, runs it through
// Backend.Predict, and turns the Output back into its own tensors.

// Input is a decoded request in the model's terms: encoded files for serving_bytes, or
// preprocessed pixels for serving_default.
type Input struct {
	Signature string
	Columnar  bool // TensorFlow Serving REST's "inputs" (answered with "outputs") rather than "instances"
	Files     [][]byte
	Pixels    [][]float32
}

// Len is the number of images.
func (p *Input) Len() int { return len(p.Files) + len(p.Pixels) }

// Output is one answered request in the model's terms.
type Output struct {
	Version int64
	Classes int
	Probs   [][]float32 // [images][classes]
	IDs     []int       // argmax per image
}

// FlatProbs is Probs row-major, as [images, classes] tensors carry them.
func (o *Output) FlatProbs() []float32 {
	out := make([]float32, 0, len(o.Probs)*o.Classes)
	for _, p := range o.Probs {
		out = append(out, p...)
	}
	return out
}

// IDs64 is IDs as int64, as INT64 tensors carry them.
func (o *Output) IDs64() []int64 {
	out := make([]int64, len(o.IDs))
	for i, id := range o.IDs {
		out[i] = int64(id)
	}
	return out
}

// ParseVersion reads a version given as text ("" is the serving one), as the Open
// Inference Protocol's paths and messages carry it.
func ParseVersion(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, BadRequest("version %q is not a number", s)
	}
	return n, nil
}

// SignatureInput is the input name and the per-image shape of a signature, and so what
// a tensor fed to it must hold.
func SignatureInput(signature string, size int) (name string, perImage []int64, err error) {
	switch signature {
	case "", savedmodels.SignatureDefault:
		return savedmodels.InputImage, []int64{int64(size), int64(size), 3}, nil
	case savedmodels.SignatureBytes:
		return savedmodels.InputImageBytes, nil, nil
	}
	return "", nil, BadRequest("serving signature name: %q not found in signature def; the model has %s and %s",
		signature, savedmodels.SignatureDefault, savedmodels.SignatureBytes)
}

// CheckShape checks a tensor's shape against [N, perImage...] with 1 <= N <= maxN and
// returns N; count is the number of values the tensor carries, checked against the
// shape's product (which is bounded by the check before it is computed).
func CheckShape(what string, shape, perImage []int64, count, maxN int) (int, error) {
	want := fmt.Sprint(append([]int64{-1}, perImage...))
	if len(shape) != 1+len(perImage) {
		return 0, BadRequest("%s: shape %v, want %s (images first)", what, shape, want)
	}
	n := shape[0]
	if n < 1 {
		return 0, BadRequest("%s: shape %v has no images", what, shape)
	}
	if n > int64(maxN) {
		return 0, BadRequest("%s: %d instances, over the server's limit of %d per request: split the request", what, n, maxN)
	}
	per := int64(1)
	for i, d := range perImage {
		if shape[1+i] != d {
			return 0, BadRequest("%s: shape %v, want %s", what, shape, want)
		}
		per *= d
	}
	if int64(count) != n*per {
		return 0, BadRequest("%s: %d values for shape %v (%d)", what, count, shape, n*per)
	}
	return int(n), nil
}

// SplitPixels cuts n images' pixels out of one flat tensor.
func SplitPixels(flat []float32, n int) [][]float32 {
	out := make([][]float32, n)
	per := len(flat) / n
	for i := range out {
		out[i] = flat[i*per : (i+1)*per : (i+1)*per]
	}
	return out
}
