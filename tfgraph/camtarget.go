package tfgraph

import (
	"errors"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// What a class activation map differentiates. Plain Grad-CAM takes the gradient of the
// explained class's logit; but a softmax decision depends only on differences of logits,
// and with two classes a confident pneumonia prediction can have a negative pneumonia
// logit (the normal one is lower still). Its gradient-weighted map is then negative at
// every position of a small feature map (4 x 4 at 128 px) and ReLU leaves zeros: no
// explanation, for exactly the predictions a reader wants explained. The margin target,
// logit_c - max_{o != c} logit_o (the runner-up class), is what the decision is made
// of: with the backbone's feature map, global average pooling and a Dense head, the map's
// spatial mean is (margin - (b_c - b_o)) / (h*w), positive whenever the explained class
// wins by more than the bias difference, so the predicted class's map is non-empty.
const (
	// CAMMargin is Grad-CAM of the logit margin of the explained class over the
	// runner-up at the stride-16 layer (ExplainLayers), the default (DefaultCAM) and what
	// serving_gradcam computes.
	CAMMargin = "margin"
	// CAMGradCAM is plain Grad-CAM (Selvaraju et al. 2017) of the class's logit.
	CAMGradCAM = "gradcam"
	// DefaultCAM is the explanation SavedModels export and Explain computes by default.
	DefaultCAM = CAMMargin
)

// ExplainLayers names, per architecture, the layer the margin method explains by default:
// the last feature map at stride 16 (8 x 8 at 128 px for MobileNet), one block before
// GradCAMLayers' stride-32 map. Measured on a MobileNet trained on real X-rays at 128 px
// (docs/explain.md), Grad-CAM of the last map (4 x 4) is empty for every pneumonia
// prediction, of the logit or of the margin alike (the head's hidden Dense layer and
// biases carry the decision), while at stride 16 the gradient varies over space and every
// map has positive evidence.
var ExplainLayers = map[string]string{
	MobileNet:   "conv_pw_11_relu",
	Xception:    "block13_sepconv2_act",
	InceptionV3: "mixed7",
}

// DefaultLayer is the layer method explains when none is named: ExplainLayers for
// CAMMargin, GradCAMLayers (the last feature map, as Selvaraju et al.) for CAMGradCAM; ""
// for an architecture without one (the model's Features).
func DefaultLayer(method, arch string) string {
	if method == CAMMargin {
		return ExplainLayers[arch]
	}
	return GradCAMLayers[arch]
}

// CAMMethods are the accepted methods, the default first.
var CAMMethods = []string{CAMMargin, CAMGradCAM}

// ErrUnknownCAM is matched by AddCAM's error for a method not in CAMMethods.
var ErrUnknownCAM = errors.New("unknown Grad-CAM method")

// camSeed is d target / d logits, float32 [-1, C]: one-hot(class) for CAMGradCAM, and
// one-hot(class) - one-hot(runner-up) for CAMMargin, the runner-up being the argmax of
// the logits with the class's own masked out (the first of equal ones, as tf.argmax).
func camSeed(s *op.Scope, method string, logits, class tf.Output, classes int64) tf.Output {
	oneHot := func(name string, ids tf.Output) tf.Output {
		return op.OneHot(s.SubScope(name), ids, op.Const(s.SubScope(name+"_depth"), int32(classes)),
			op.Const(s.SubScope(name+"_on"), float32(1)), op.Const(s.SubScope(name+"_off"), float32(0)))
	}
	seed := oneHot("one_hot", class)
	if method != CAMMargin || classes < 2 {
		return seed
	}
	// logits - inf*one_hot would give NaN (0 * inf) off the class: push the class's own
	// logit below every other one by the logits' spread plus one instead.
	ms := s.SubScope("runner_up")
	axis := op.Const(ms.SubScope("axis"), int32(1))
	spread := op.Sub(ms.SubScope("spread"), op.Max(ms, logits, axis, op.MaxKeepDims(true)), op.Min(ms, logits, axis, op.MinKeepDims(true)))
	push := op.AddV2(ms.SubScope("push"), spread, op.Const(ms.SubScope("one"), float32(1)))
	masked := op.Sub(ms.SubScope("masked"), logits, op.Mul(ms, seed, push))
	runnerUp := op.ArgMax(ms, masked, op.Const(ms.SubScope("dim"), int32(1)), op.ArgMaxOutputType(tf.Int64))
	return op.Sub(s.SubScope("margin"), seed, oneHot("other", runnerUp))
}
