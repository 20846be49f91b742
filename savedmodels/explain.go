package savedmodels

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/parallel"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
)

// ErrNoGradCAM is matched by Explain's error on a SavedModel exported before
// serving_gradcam existed: export it again (from its Keras file or its run's checkpoint).
var ErrNoGradCAM = errors.New("the SavedModel has no " + SignatureGradCAM + " signature (exported by an older xray): export it again to explain its predictions")

// ErrUnknownClass is matched by Explain's error for a class name the model lacks.
var ErrUnknownClass = errors.New("unknown class")

// ExplainOptions choose what Explain explains; the zero value explains each image's
// predicted class.
type ExplainOptions struct {
	// Class is the name of the class to explain (one of Metadata.Classes); "" for the
	// predicted class.
	Class string
	// Layer is the Keras layer whose output Grad-CAM explains; "" for serving_gradcam's
	// (the backbone's last convolutional feature map). Another layer's ops are added to
	// the loaded graph on first use; an unknown name matches tfgraph.ErrUnknownLayer.
	Layer string
	// Method is what the map differentiates, one of tfgraph.CAMMethods; "" for the
	// default, tfgraph.DefaultCAM (the logit margin), or for an older model that cannot
	// add it (no layer list) the plain Grad-CAM its serving_gradcam computes.
	Method string
}

// Explanation is the answer of Explain for one image: its prediction and the Grad-CAM
// heatmap of the class explained, over the model's input (the image resized to Size x Size
// as preprocessing does).
type Explanation struct {
	Prediction           // Err set: this image could not be read; the rest is zero
	Explained  int       // class id the heatmap explains
	Size       int       // the heatmap's side, the model's input size
	Heatmap    []float32 // Size x Size, row-major, in [0, 1]: where the class's evidence lies
	Method     string    // what the heatmap is: tfgraph.CAMMargin, tfgraph.CAMGradCAM, or the caller's (occlusion)
	// Empty says why the heatmap is zero everywhere (no position holds evidence for the
	// explained class); "" when it is not.
	Empty string
}

// Peak returns the heatmap's maximum and its location (column x, row y), the first in
// row-major order where it is reached several times.
func (e Explanation) Peak() (x, y int, v float32) {
	if len(e.Heatmap) == 0 || e.Size == 0 {
		return 0, 0, 0
	}
	i := slices.Index(e.Heatmap, slices.Max(e.Heatmap))
	return i % e.Size, i / e.Size, e.Heatmap[i]
}

// Explain predicts images as Predict does and computes, for each, the Grad-CAM heatmap of
// its predicted class with the model's serving_gradcam signature. It is safe for
// concurrent use; its errors are Predict's, plus ErrNoGradCAM for an older model.
func (m *Model) Explain(ctx context.Context, images ...image.Image) ([]Explanation, error) {
	return m.ExplainWith(ctx, ExplainOptions{}, images...)
}

// ExplainWith is Explain with options (e.g. the class to explain).
func (m *Model) ExplainWith(ctx context.Context, opts ExplainOptions, images ...image.Image) ([]Explanation, error) {
	return m.explain(ctx, opts, len(images), func(i int) ([]float32, error) { return m.imageFloats(images[i]) })
}

// ExplainFile is ExplainWith on image files; a file that cannot be read or decoded gets
// its own Err, which names it.
func (m *Model) ExplainFile(ctx context.Context, opts ExplainOptions, paths ...string) ([]Explanation, error) {
	return m.explain(ctx, opts, len(paths), func(i int) ([]float32, error) { return m.pre.File(paths[i]) })
}

// ExplainPixels is ExplainWith on images already preprocessed (see PredictPixels).
func (m *Model) ExplainPixels(ctx context.Context, opts ExplainOptions, pixels ...[]float32) ([]Explanation, error) {
	return m.explain(ctx, opts, len(pixels), func(i int) ([]float32, error) { return pixels[i], nil })
}

// imageFloats preprocesses one decoded image, rejecting nil and empty ones.
func (m *Model) imageFloats(img image.Image) ([]float32, error) {
	if img == nil {
		return nil, errors.New("nil image")
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("empty image (%d x %d pixels)", b.Dx(), b.Dy())
	}
	return m.pre.Floats(img)
}

// explain preprocesses n images with prep and runs serving_gradcam's outputs on the good
// ones in chunks of MaxBatch. It runs the session directly (TensorFlow sessions are
// safe for concurrent runs) rather than through Predict's dispatcher: heatmaps are large
// and their callers few.
func (m *Model) explain(ctx context.Context, opts ExplainOptions, n int, prep func(i int) ([]float32, error)) ([]Explanation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.heatmap.Op == nil {
		return nil, fmt.Errorf("explain with %s: %w", m.dir, ErrNoGradCAM)
	}
	ops, err := m.gradcamFor(opts.Method, opts.Layer)
	if err != nil {
		return nil, err
	}
	class := -1
	if opts.Class != "" {
		class = slices.Index(m.meta.Classes, opts.Class)
		if class < 0 {
			return nil, fmt.Errorf("explain class %q: %w: the model's classes are %s", opts.Class, ErrUnknownClass, strings.Join(m.meta.Classes, ", "))
		}
	}
	out := make([]Explanation, n)
	pixels := make([][]float32, n)
	parallel.For(n, 0, func(i int) {
		p, err := prep(i)
		if err == nil && len(p) != m.pre.Len() {
			err = fmt.Errorf("preprocessing gave %d values, want %d", len(p), m.pre.Len())
		}
		pixels[i], out[i].Err = p, err
	})
	var which []int
	for i := range pixels {
		if out[i].Err == nil {
			which = append(which, i)
		}
	}
	for start := 0; start < len(which); start += m.maxBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := which[start:min(start+m.maxBatch, len(which))]
		batch := make([][]float32, len(chunk))
		for k, i := range chunk {
			batch[k] = pixels[i]
		}
		res, err := m.runExplain(ops, batch, class)
		if err != nil {
			return nil, err
		}
		for k, i := range chunk {
			out[i] = res[k]
			out[i].Method = ops.method
			out[i].Empty = EmptyReason(out[i], m.meta.Classes)
		}
	}
	return out, nil
}

// runExplain runs one batch through probabilities, class_id and heatmap, feeding the
// class to explain unless it is -1 (the predicted one).
func (m *Model) runExplain(ops gradcamOps, images [][]float32, class int) (res []Explanation, err error) {
	m.mu.RLock() // Close waits for the run before it drops the session
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("explain with %s: %v", m.dir, r)
		}
	}()
	s := int64(m.pre.Size)
	readers := make([]io.Reader, len(images))
	for i, p := range images {
		readers[i] = bytes.NewReader(floatBytes(p))
	}
	in, err := tf.ReadTensor(tf.Float, []int64{int64(len(images)), s, s, 3}, io.MultiReader(readers...))
	if err != nil {
		return nil, fmt.Errorf("explain with %s: %w", m.dir, err)
	}
	feeds := map[tf.Output]*tf.Tensor{m.input: in}
	if class >= 0 {
		ct, err := tf.NewTensor(slices.Repeat([]int64{int64(class)}, len(images)))
		if err != nil {
			return nil, err
		}
		feeds[ops.class] = ct
	}
	out, err := m.saved.exec([]tf.Output{m.probs, m.class, ops.heatmap}, feeds)
	if err != nil {
		return nil, fmt.Errorf("explain with %s: %s", m.dir, smgraph.OneLine(err.Error()))
	}
	return m.explanations(out, len(images), class)
}

// explanations unpacks one run's outputs.
func (m *Model) explanations(out []*tf.Tensor, n, class int) ([]Explanation, error) {
	pv, ok1 := out[0].Value().([][]float32)
	cv, ok2 := out[1].Value().([]int64)
	s := m.pre.Size
	if !ok1 || !ok2 || len(pv) != n || len(cv) != n || !slices.Equal(out[2].Shape(), []int64{int64(n), int64(s), int64(s)}) {
		return nil, fmt.Errorf("explain with %s: outputs of unexpected shape %v, %v, %v", m.dir, out[0].Shape(), out[1].Shape(), out[2].Shape())
	}
	var raw bytes.Buffer
	if _, err := out[2].WriteContentsTo(&raw); err != nil {
		return nil, fmt.Errorf("explain with %s: heatmap: %w", m.dir, err)
	}
	heat := make([]float32, n*s*s)
	if err := binary.Read(&raw, binary.NativeEndian, heat); err != nil {
		return nil, fmt.Errorf("explain with %s: heatmap: %w", m.dir, err)
	}
	res := make([]Explanation, n)
	for i := range res {
		c := int(cv[i])
		if k := len(m.meta.Classes); len(pv[i]) != k || c < 0 || c >= k {
			return nil, fmt.Errorf("explain with %s: probabilities %v / class %d out of range for %d classes", m.dir, pv[i], c, k)
		}
		p := &res[i].Prediction
		p.Class, p.Probabilities, p.Label = c, pv[i], m.meta.Classes[c]
		p.Decision = m.meta.Decide(p.Probabilities)
		res[i].Explained, res[i].Size, res[i].Heatmap = c, s, heat[i*s*s:(i+1)*s*s]
		if class >= 0 {
			res[i].Explained = class
		}
		for _, v := range res[i].Heatmap {
			if !(v >= 0 && v <= 1) || math.IsNaN(float64(v)) {
				return nil, fmt.Errorf("explain with %s: heatmap value %v outside [0, 1]", m.dir, v)
			}
		}
	}
	return res, nil
}

// findGradCAM finds serving_gradcam's heatmap and its class input, and the layer outputs
// other layers' Grad-CAM starts from, if the model has them.
func (m *Model) findGradCAM(mg *pb.MetaGraphDef) (err error) {
	sig := mg.SignatureDef[SignatureGradCAM]
	if sig == nil {
		return nil
	}
	if m.heatmap, err = m.saved.op(sig.Outputs[OutputHeatmap].GetName()); err != nil {
		return err
	}
	if m.gradClass, err = m.saved.op(smgraph.GradCAMClassOp + ":0"); err != nil {
		return err
	}
	m.layers, m.layerCAMs = map[string]string{}, map[string]gradcamOps{}
	for _, b := range mg.CollectionDef[smgraph.LayerCollection].GetBytesList().GetValue() {
		if name, tensor, ok := strings.Cut(string(b), "\t"); ok {
			m.layers[name] = tensor
		}
	}
	return nil
}

// Preprocessor is the preprocessing the model expects (its input size and scaling), as
// Predict applies it: what PredictPixels and ExplainPixels take.
func (m *Model) Preprocessor() preprocess.Preprocessor { return m.pre }
