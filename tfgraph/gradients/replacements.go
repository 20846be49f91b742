package gradients

// replacements is the registry of ops that have no C++ gradient in TensorFlow 2.18 (checked
// by TestOpsWithoutGradientAreExplained) but that a forward graph could plausibly contain,
// each with the construction from ops that do have one. xray's forward graphs avoid these ops
// rather than defining gradients in Go: TF_AddGradients cannot call Go code, and splitting the
// backward pass around such ops would duplicate what TensorFlow's registry already does for
// the replacements.
var replacements = map[string]string{
	"Concat":                              "use ConcatV2 (op.ConcatV2), as Keras does",
	"FusedBatchNorm":                      "use FusedBatchNormV3 (is_training=true for training) or Keras 3's composition: Mean, StopGradient, SquaredDifference, AddV2, Rsqrt, Mul, Sub",
	"FusedBatchNormV2":                    "use FusedBatchNormV3 (is_training=true for training) or Keras 3's composition: Mean, StopGradient, SquaredDifference, AddV2, Rsqrt, Mul, Sub",
	"Switch":                              "tf.cond-style control flow has no gradient: choose with SelectV2 on a bool input (both sides are computed) or build separate training and inference graphs",
	"Merge":                               "tf.cond-style control flow has no gradient: choose with SelectV2 on a bool input (both sides are computed) or build separate training and inference graphs",
	"SparseSoftmaxCrossEntropyWithLogits": "use one-hot labels with SoftmaxCrossEntropyWithLogits",
	"MulNoNan":                            "use Mul, or SelectV2 to mask",
}
