package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// Precision policies (Config.Precision), named and behaving as keras.mixed_precision's:
// variables stay float32; under a mixed policy each layer casts its floating inputs and
// reads its weights in the compute type, except BatchNormalization, which computes in
// float32 and casts its output back (Keras 3), and the head's output Dense and softmax,
// which run in float32 (Keras's advice: the output layer with dtype="float32"), so the
// logits, probabilities and loss are float32.
const (
	PrecisionFloat32       = "float32"
	PrecisionMixedBFloat16 = "mixed_bfloat16"
	PrecisionMixedFloat16  = "mixed_float16"
)

// Precisions lists the policies Config.Precision accepts.
var Precisions = []string{PrecisionFloat32, PrecisionMixedBFloat16, PrecisionMixedFloat16}

// ComputeType is the type a policy computes the layers in: float32, bfloat16 or half.
// It reports false for an unknown policy ("" is float32).
func ComputeType(precision string) (tf.DataType, bool) {
	switch precision {
	case "", PrecisionFloat32:
		return tf.Float, true
	case PrecisionMixedBFloat16:
		return tf.Bfloat16, true
	case PrecisionMixedFloat16:
		return tf.Half, true
	}
	return 0, false
}

// isFloating reports whether t is a floating type a layer casts (Keras casts only
// floating inputs).
func isFloating(t tf.DataType) bool {
	return t == tf.Float || t == tf.Bfloat16 || t == tf.Half || t == tf.Double
}

// cast returns x in the layer's compute type: Keras's input conversion and variable
// autocast. It adds nothing when x already has that type, so a float32 model's graph is
// the same op for op as before precision policies existed.
func (l *layerCtx) cast(x tf.Output) tf.Output { return l.castTo(x, l.dtype, "cast") }

// castTo casts x to t in a sub-scope name of the layer; the scope is made only when a
// cast is added.
func (l *layerCtx) castTo(x tf.Output, t tf.DataType, name string) tf.Output {
	if x.DataType() == t || !isFloating(x.DataType()) {
		return x
	}
	return op.Cast(l.sub(name), x, t)
}

// withDtype builds the layers f adds in compute type t (a Keras layer built with
// dtype=t), then restores the builder's policy.
func (b *builder) withDtype(t tf.DataType, f func()) {
	saved := b.compute
	b.compute = t
	defer func() { b.compute = saved }()
	f()
}

// precisionError is the ConfigError of an unknown policy.
func precisionError(p string) error {
	return &ConfigError{Field: "Precision", Value: fmt.Sprintf("%q", p), Reason: "unknown precision policy: use float32, mixed_bfloat16 or mixed_float16"}
}
