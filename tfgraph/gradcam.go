package tfgraph

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph/gradients"
)

// Grad-CAM (Selvaraju et al. 2017) as graph ops, as the Keras Grad-CAM example computes
// it: for class c, the gradient of c's pre-softmax logit with respect to a convolutional
// feature map A, averaged over space (alpha_k), gives ReLU(sum_k alpha_k A_k), which is
// upsampled bilinearly to the input side and divided by its per-image maximum.

// GradCAMLayers names, per architecture, the layer Grad-CAM explains by default: the
// backbone's last convolutional feature map (Model.Features).
var GradCAMLayers = map[string]string{
	MobileNet:   "conv_pw_13_relu",
	Xception:    "block14_sepconv2_act",
	InceptionV3: "mixed10",
}

// ErrUnknownLayer is matched by the error of LayerOutput for a name the model lacks.
var ErrUnknownLayer = errors.New("unknown layer")

// LayerOutput returns the inference-mode output of the Keras layer name; "" is the
// backbone's feature map (Features).
func (m *Model) LayerOutput(name string) (tf.Output, error) {
	if name == "" {
		return m.Features, nil
	}
	if out, ok := m.outputs[name]; ok {
		return out, nil
	}
	var conv []string
	for _, l := range m.Layers {
		if len(l.OutputShape) == 3 && m.outputs[l.Name].Op != nil {
			conv = append(conv, l.Name)
		}
	}
	hint := ""
	if n := len(conv); n > 0 {
		hint = ": use a layer with a spatial output, e.g. " + strings.Join(conv[max(0, n-3):], ", ")
	}
	return tf.Output{}, fmt.Errorf("layer %q: %w in this %s model%s", name, ErrUnknownLayer, m.Config.Arch, hint)
}

// GradCAM adds to m.Graph the default explanation (DefaultCAM: Grad-CAM of the logit
// margin) of the inference path for the layer name; see CAM.
func (m *Model) GradCAM(layer string) (class, heatmap tf.Output, err error) {
	return m.CAM(DefaultCAM, layer)
}

// CAM adds to m.Graph the class activation map of method (CAMMargin or CAMGradCAM) of the
// inference path for the layer name ("" for the method's DefaultLayer) and returns it
// with its class input: class is an int64 [-1] placeholder (one class id per image) and
// heatmap is float32 [-1, S, S].
func (m *Model) CAM(method, layer string) (class, heatmap tf.Output, err error) {
	if layer == "" {
		layer = DefaultLayer(method, m.Config.Arch)
	}
	feat, err := m.LayerOutput(layer)
	if err != nil {
		return tf.Output{}, tf.Output{}, err
	}
	s := op.NewScopeWithGraph(m.Graph).SubScope(FreeName(m.Graph, "gradcam"))
	class = op.Placeholder(s.SubScope("class"), tf.Int64, op.PlaceholderShape(tf.MakeShape(-1)))
	heatmap, err = AddCAM(s, method, m.Logits, feat, class, m.Config.InputSize)
	return class, heatmap, err
}

// AddGradCAM adds to s plain Grad-CAM (CAMGradCAM): AddCAM of the class's logit.
func AddGradCAM(s *op.Scope, logits, features, class tf.Output, size int) (heatmap tf.Output, err error) {
	return AddCAM(s, CAMGradCAM, logits, features, class, size)
}

// AddCAM adds to s the heatmap of method, float32 [-1, size, size] in [0, 1], of the
// classes class (int64 [-1]) given the logits [-1, C] and the feature map [-1, h, w, K]
// they were computed from. An image whose map is zero everywhere gets zeros. s must be a
// fresh sub-scope of the graph (see gradients.Add).
func AddCAM(s *op.Scope, method string, logits, features, class tf.Output, size int) (heatmap tf.Output, err error) {
	if !slices.Contains(CAMMethods, method) {
		return tf.Output{}, fmt.Errorf("grad-cam: %w %q: use %s", ErrUnknownCAM, method, strings.Join(CAMMethods, " or "))
	}
	if n := logits.Shape().NumDimensions(); n != 2 {
		return tf.Output{}, fmt.Errorf("grad-cam: logits have %d dimensions, want [batch, classes]", n)
	}
	if n := features.Shape().NumDimensions(); n != 4 {
		return tf.Output{}, fmt.Errorf("grad-cam: layer output %s has %d dimensions, want a feature map [batch, h, w, channels]", features.Op.Name(), n)
	}
	classes, err := logits.Shape().ToSlice()
	if err != nil || classes[1] <= 0 {
		return tf.Output{}, fmt.Errorf("grad-cam: logits have shape %v, want a known number of classes", logits.Shape())
	}
	if size <= 0 {
		return tf.Output{}, fmt.Errorf("grad-cam: output side %d, want > 0", size)
	}
	defer func() {
		if r := recover(); r != nil {
			heatmap, err = tf.Output{}, fmt.Errorf("grad-cam: %v", r)
		}
	}()
	// d(sum_i target_i)/dA: images of a batch are independent in inference mode, so
	// each image's slice is the gradient of its own target (seed: d target / d logits).
	seed := camSeed(s, method, logits, class, classes[1])
	grads, err := gradients.Add(s, []tf.Output{logits}, []tf.Output{features}, gradients.WithSeeds(seed))
	if err != nil {
		return tf.Output{}, fmt.Errorf("grad-cam: %w", err)
	}
	alpha := op.Mean(s.SubScope("alpha"), grads[0], op.Const(s.SubScope("hw"), []int32{1, 2}), op.MeanKeepDims(true))
	cam := op.Sum(s.SubScope("weighted"), op.Mul(s, alpha, features), op.Const(s.SubScope("channels"), int32(3)), op.SumKeepDims(true))
	cam = op.Relu(s, cam)
	cam = op.ResizeBilinear(s, cam, op.Const(s.SubScope("size"), []int32{int32(size), int32(size)}), op.ResizeBilinearHalfPixelCenters(true))
	cam = op.Squeeze(s, cam, op.SqueezeAxis([]int64{3}))
	peak := op.Max(s.SubScope("peak"), cam, op.Const(s.SubScope("spatial"), []int32{1, 2}), op.MaxKeepDims(true))
	heatmap = op.DivNoNan(s.SubScope("heatmap"), cam, peak)
	if err := s.Err(); err != nil {
		return tf.Output{}, fmt.Errorf("grad-cam: %w", CleanError(err))
	}
	return heatmap, nil
}

// FreeName returns base, or base_N for the smallest N, such that no op of g is under it:
// a scope name for ops added to a finished graph.
func FreeName(g *tf.Graph, base string) string {
	used := map[string]bool{}
	for _, o := range g.Operations() {
		first, _, _ := strings.Cut(o.Name(), "/")
		used[first] = true
	}
	name := base
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}
