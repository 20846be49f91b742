package savedmodels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/parallel"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
)

// Predict classifies images. They may have any size and color model: each goes through
// the same preprocessing as training (preprocess.Preprocessor with the model's input size
// and scaling). A nil image gets its own Prediction.Err; the others are still predicted.
// The error is for the call as a whole: ctx done, model closed, TensorFlow failed.
func (m *Model) Predict(ctx context.Context, images ...image.Image) ([]Prediction, error) {
	return m.predict(ctx, len(images), func(i int) ([]float32, error) {
		if images[i] == nil {
			return nil, errors.New("nil image")
		}
		b := images[i].Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 {
			return nil, fmt.Errorf("empty image (%d x %d pixels)", b.Dx(), b.Dy())
		}
		return m.pre.Floats(images[i])
	})
}

// PredictBytes classifies encoded images (JPEG, PNG or DICOM file contents, told apart
// by their first bytes), decoded and preprocessed in Go by preprocess.Preprocessor. A file that does not decode gets its own
// Prediction.Err; the others are still predicted.
func (m *Model) PredictBytes(ctx context.Context, files ...[]byte) ([]Prediction, error) {
	return m.predict(ctx, len(files), func(i int) ([]float32, error) { return m.pre.Bytes(files[i]) })
}

// PredictPixels classifies images already preprocessed as serving_default takes them:
// each InputSize x InputSize x 3 float32 values, row-major (what preprocess.Preprocessor
// gives). One of another length gets its own Prediction.Err.
func (m *Model) PredictPixels(ctx context.Context, pixels ...[]float32) ([]Prediction, error) {
	return m.predict(ctx, len(pixels), func(i int) ([]float32, error) {
		if n := len(pixels[i]); n != m.pre.Len() {
			return nil, fmt.Errorf("%d pixel values, want %d (%d x %d x 3)", n, m.pre.Len(), m.pre.Size, m.pre.Size)
		}
		return pixels[i], nil
	})
}

// predict preprocesses n images with prep (in parallel for several), hands the good
// ones to the dispatcher and waits for their probabilities.
func (m *Model) predict(ctx context.Context, n int, prep func(i int) ([]float32, error)) ([]Prediction, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.isClosed() {
		return nil, ErrClosed
	}
	preds := make([]Prediction, n)
	pixels := make([][]float32, n)
	parallel.For(n, 0, func(i int) {
		p, err := prep(i)
		if err == nil && len(p) != m.pre.Len() {
			err = fmt.Errorf("preprocessing gave %d values, want %d", len(p), m.pre.Len())
		}
		pixels[i], preds[i].Err = p, err
	})
	req := &request{ctx: ctx, done: make(chan struct{})}
	var which []int
	for i, p := range pixels {
		if preds[i].Err == nil {
			req.pixels = append(req.pixels, p)
			which = append(which, i)
		}
	}
	if len(which) == 0 {
		return preds, nil
	}
	if err := m.submit(req); err != nil {
		return nil, err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if req.err != nil {
		return nil, req.err
	}
	for k, i := range which {
		c := req.class[k]
		preds[i].Class, preds[i].Probabilities, preds[i].Label = c, req.probs[k], m.meta.Classes[c]
		preds[i].Decision = m.meta.Decide(req.probs[k])
	}
	return preds, nil
}

// runBatch runs serving_default on preprocessed images.
func (m *Model) runBatch(images [][]float32) (probs [][]float32, class []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("predict with %s: %v", m.dir, r)
		}
	}()
	readers := make([]io.Reader, len(images))
	for i, p := range images {
		readers[i] = bytes.NewReader(floatBytes(p))
	}
	m.runs.Add(1)
	s := int64(m.pre.Size)
	in, err := tf.ReadTensor(tf.Float, []int64{int64(len(images)), s, s, 3}, io.MultiReader(readers...))
	if err != nil {
		return nil, nil, fmt.Errorf("predict with %s: %w", m.dir, err)
	}
	out, err := m.saved.exec([]tf.Output{m.probs, m.class}, map[tf.Output]*tf.Tensor{m.input: in})
	if err != nil {
		return nil, nil, fmt.Errorf("predict with %s: %s", m.dir, smgraph.OneLine(err.Error()))
	}
	pv, ok1 := out[0].Value().([][]float32)
	cv, ok2 := out[1].Value().([]int64)
	if !ok1 || !ok2 || len(pv) != len(images) || len(cv) != len(images) {
		return nil, nil, fmt.Errorf("predict with %s: outputs of unexpected shape %v, %v", m.dir, out[0].Shape(), out[1].Shape())
	}
	n := len(m.meta.Classes)
	class = make([]int, len(images))
	for i := range pv {
		if len(pv[i]) != n || cv[i] < 0 || cv[i] >= int64(n) {
			return nil, nil, fmt.Errorf("predict with %s: probabilities %v / class %d out of range for %d classes", m.dir, pv[i], cv[i], n)
		}
		class[i] = int(cv[i])
	}
	probs = pv
	return probs, class, nil
}

// floatBytes views float32s as their in-memory bytes: TensorFlow tensors hold native
// byte order too, so ReadTensor copies them as they are.
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// PredictFile classifies image files, read, decoded and preprocessed in Go like
// PredictBytes. A file that cannot be read or decoded gets its own Prediction.Err, which
// names the file; the others are still predicted. Every file's pixels are held until the
// call returns, so give long lists a batch at a time.
func (m *Model) PredictFile(ctx context.Context, paths ...string) ([]Prediction, error) {
	return m.predict(ctx, len(paths), func(i int) ([]float32, error) { return m.pre.File(paths[i]) })
}
