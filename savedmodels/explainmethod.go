package savedmodels

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
)

// ErrNoCAMMethod is matched by Explain's error for a method an older SavedModel cannot
// compute: its serving_gradcam computes another one and it lists no layers to add the
// asked one from.
var ErrNoCAMMethod = errors.New("explanation method not available in this SavedModel")

// gradcamOps are the tensors of one Grad-CAM computation in the loaded graph and the
// method (tfgraph.CAMMethods) they compute.
type gradcamOps struct {
	class, heatmap tf.Output
	method         string
}

// servingCAM is the method serving_gradcam computes.
func (m *Model) servingCAM() string {
	if m.meta.GradCAM == "" {
		return tfgraph.CAMGradCAM // exported before Metadata.GradCAM existed
	}
	return m.meta.GradCAM
}

// gradcamFor returns the tensors of method ("" for tfgraph.DefaultCAM) for layer ("" for
// the method's tfgraph.DefaultLayer), serving_gradcam's own when they match, else adding them to the
// loaded graph on first use (the session runs new ops from its next run). An older model
// without a layer list explains by its serving_gradcam when no method was asked for.
func (m *Model) gradcamFor(method, layer string) (gradcamOps, error) {
	asked := method
	if method == "" {
		method = tfgraph.DefaultCAM
	}
	if !slices.Contains(tfgraph.CAMMethods, method) {
		return gradcamOps{}, fmt.Errorf("explain method %q: %w: use %s", method, tfgraph.ErrUnknownCAM, strings.Join(tfgraph.CAMMethods, " or "))
	}
	serving := gradcamOps{m.gradClass, m.heatmap, m.servingCAM()}
	if layer == "" && method == serving.method {
		return serving, nil
	}
	name := layer
	if name == "" {
		name = tfgraph.DefaultLayer(method, m.meta.Arch)
	}
	m.gradMu.Lock()
	defer m.gradMu.Unlock()
	key := method + "\t" + name
	if ops, ok := m.layerCAMs[key]; ok {
		return ops, nil
	}
	tensor, ok := m.layers[name]
	switch {
	case !ok && layer == "" && asked == "":
		return serving, nil
	case !ok && layer == "":
		return gradcamOps{}, fmt.Errorf("explain method %q: %w: its serving_gradcam computes %s and it lists no layers (exported by an older xray): export it again, or use method %s",
			method, ErrNoCAMMethod, serving.method, serving.method)
	case !ok && len(m.layers) == 0:
		return gradcamOps{}, fmt.Errorf("layer %q: %w: this SavedModel lists no layers (exported by an older xray): export it again", layer, tfgraph.ErrUnknownLayer)
	case !ok:
		return gradcamOps{}, fmt.Errorf("layer %q: %w: the model's layers with a feature map are %s", layer, tfgraph.ErrUnknownLayer, strings.Join(slices.Sorted(maps.Keys(m.layers)), ", "))
	}
	feat, err := m.saved.op(tensor)
	if err != nil {
		return gradcamOps{}, err
	}
	logits, err := m.saved.op(m.layers[smgraph.LogitsKey])
	if err != nil {
		return gradcamOps{}, err
	}
	ops, err := m.saved.addGradCAM(method, logits, feat, m.class, m.pre.Size)
	if err != nil {
		return gradcamOps{}, fmt.Errorf("layer %q: %w", name, err)
	}
	ops.method = method
	m.layerCAMs[key] = ops
	return ops, nil
}

// EmptyReason says why e's heatmap is zero everywhere, in a line for a reader; "" when some
// position holds evidence (or e is an error). classes are the model's class names.
func EmptyReason(e Explanation, classes []string) string {
	if e.Err != nil || slices.ContainsFunc(e.Heatmap, func(v float32) bool { return v > 0 }) {
		return ""
	}
	c := e.Explained
	if c < 0 || c >= len(classes) || len(e.Probabilities) != len(classes) {
		return "the map is zero everywhere"
	}
	r := -1 // the runner-up: the most probable other class
	for k, p := range e.Probabilities {
		if k != c && (r < 0 || p > e.Probabilities[r]) {
			r = k
		}
	}
	switch e.Method {
	case tfgraph.CAMGradCAM:
		return fmt.Sprintf("plain Grad-CAM of the %s logit is negative or zero at every position of the feature map (a class can win with a negative logit, and ReLU leaves nothing): explain with method %s",
			classes[c], tfgraph.CAMMargin)
	case tfgraph.CAMMargin:
		if r >= 0 && e.Probabilities[c] <= e.Probabilities[r] {
			return fmt.Sprintf("%s scores below %s (p %.3g vs %.3g): no position holds evidence for it over %s",
				classes[c], classes[r], e.Probabilities[c], e.Probabilities[r], classes[r])
		}
		if r >= 0 {
			return fmt.Sprintf("the gradient-weighted margin of %s over %s is negative or zero at every position of the feature map (the head's bias carries the decision)", classes[c], classes[r])
		}
	}
	return "the map is zero everywhere"
}
