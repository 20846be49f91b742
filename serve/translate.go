package serve

import (
	"context"
	"fmt"
	"strconv"

	"github.com/xraylab/xray/savedmodels"
)

// The protocol translation layer. Every wire format (TensorFlow Serving REST and gRPC,
// the Open Inference Protocol's REST and gRPC) turns its request into a predictInput (a
// signature and either encoded files or preprocessed pixels), runs it through
// Server.predict, and turns the predictOutput back into its own tensors. Handlers
// only translate; the limits, the checks and the model call are here, once.

// predictOutput is one answered request in the model's terms.
type predictOutput struct {
	version int64
	classes int
	probs   [][]float32 // [images][classes]
	ids     []int       // argmax per image
}

// flatProbs is probs row-major, as [images, classes] tensors carry them.
func (o *predictOutput) flatProbs() []float32 {
	out := make([]float32, 0, len(o.probs)*o.classes)
	for _, p := range o.probs {
		out = append(out, p...)
	}
	return out
}

func (o *predictOutput) ids64() []int64 {
	out := make([]int64, len(o.ids))
	for i, id := range o.ids {
		out[i] = int64(id)
	}
	return out
}

// predict resolves the model and version of p, lets decode translate the request with
// that version's input size, checks each file (empty, over MaxPixels) and runs the model.
// decode is called with the version held, so a hot swap cannot change the size under it.
func (s *Server) predict(ctx context.Context, p modelPath, decode func(size int) (*predictInput, error)) (*predictOutput, error) {
	v, release, err := s.resolve(p)
	if err != nil {
		return nil, err
	}
	defer release()
	in, err := decode(v.meta.InputSize)
	if err != nil {
		return nil, err
	}
	if n := in.len(); n == 0 {
		return nil, badRequest("no instances: send at least one image")
	} else if n > s.cfg.MaxInstances {
		return nil, badRequest("%d instances, over the server's limit of %d per request: split the request", n, s.cfg.MaxInstances)
	}
	s.metrics.images.Observe(float64(in.len()))
	var preds []savedmodels.Prediction
	if in.files != nil {
		for i, b := range in.files {
			if err := s.checkImage(fmt.Sprintf("instance %d", i), b); err != nil {
				return nil, err
			}
		}
		preds, err = v.model.PredictBytes(ctx, in.files...)
	} else {
		preds, err = v.model.PredictPixels(ctx, in.pixels...)
	}
	if err != nil {
		return nil, err
	}
	out := &predictOutput{version: v.n, classes: len(v.meta.Classes), probs: make([][]float32, len(preds)), ids: make([]int, len(preds))}
	for i, pr := range preds {
		if pr.Err != nil {
			return nil, badRequest("instance %d: %v", i, pr.Err)
		}
		out.probs[i], out.ids[i] = pr.Probabilities, pr.Class
		out.classes = len(pr.Probabilities)
	}
	return out, nil
}

// parseVersion reads a version given as text ("" is the serving one), as the Open
// Inference Protocol's paths and messages carry it.
func parseVersion(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("version %q is not a number", s)
	}
	return n, nil
}

// signatureInput is the input name and the per-image shape of a signature, and so what
// a tensor fed to it must hold.
func signatureInput(signature string, size int) (name string, perImage []int64, err error) {
	switch signature {
	case "", savedmodels.SignatureDefault:
		return savedmodels.InputImage, []int64{int64(size), int64(size), 3}, nil
	case savedmodels.SignatureBytes:
		return savedmodels.InputImageBytes, nil, nil
	}
	return "", nil, badRequest("serving signature name: %q not found in signature def; the model has %s and %s",
		signature, savedmodels.SignatureDefault, savedmodels.SignatureBytes)
}

// checkShape checks a tensor's shape against [N, perImage...] with 1 <= N <= maxN and
// returns N; count is the number of values the tensor carries, checked against the
// shape's product (which is bounded by the check before it is computed).
func checkShape(what string, shape, perImage []int64, count, maxN int) (int, error) {
	want := fmt.Sprint(append([]int64{-1}, perImage...))
	if len(shape) != 1+len(perImage) {
		return 0, badRequest("%s: shape %v, want %s (images first)", what, shape, want)
	}
	n := shape[0]
	if n < 1 {
		return 0, badRequest("%s: shape %v has no images", what, shape)
	}
	if n > int64(maxN) {
		return 0, badRequest("%s: %d instances, over the server's limit of %d per request: split the request", what, n, maxN)
	}
	per := int64(1)
	for i, d := range perImage {
		if shape[1+i] != d {
			return 0, badRequest("%s: shape %v, want %s", what, shape, want)
		}
		per *= d
	}
	if int64(count) != n*per {
		return 0, badRequest("%s: %d values for shape %v (%d)", what, count, shape, n*per)
	}
	return int(n), nil
}

// splitPixels cuts n images' pixels out of one flat tensor.
func splitPixels(flat []float32, n int) [][]float32 {
	out := make([][]float32, n)
	per := len(flat) / n
	for i := range out {
		out[i] = flat[i*per : (i+1)*per : (i+1)*per]
	}
	return out
}
