package gradients

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/approx"
)

// Finite-difference steps and tolerances. A gradient passes when, for every element,
// |analytic - numeric| <= tol * max(1, max |numeric| over that tensor).
const (
	step64, tol64 = 1e-6, 1e-6 // float64: error of central differences ~1e-9 here
	step32, tol32 = 1e-2, 5e-3 // float32: rounding (~1e-7/step) and truncation (~step²) balance
)

// input describes one differentiated input of a case: its shape and how to draw its values.
type input struct {
	shape []int64
	gen   func(r *rand.Rand, n int) []float64
}

// gradCase is one small forward graph whose gradients are checked. The checked loss is
// sum(y * w) for a random w of y's shape, passed to Add as the seed, so every element of
// the Jacobian matters (a plain sum would hide e.g. a wrong Softmax gradient, whose sum is 0).
type gradCase struct {
	name   string
	ops    []string // the op types this case checks (TestKerasTrainingOpsAreCovered reads them)
	dtype  tf.DataType
	inputs []input
	build  func(s *op.Scope, in []tf.Output) tf.Output
	// want gives the expected gradients from the inputs and the seed w, replacing finite
	// differences where they cannot see the intended gradient (StopGradient).
	want func(in [][]float64, w []float64) [][]float64
}

func normal(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func uniform(lo, hi float64) func(r *rand.Rand, n int) []float64 {
	return func(r *rand.Rand, n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = lo + (hi-lo)*r.Float64()
		}
		return v
	}
}

// awayFrom draws N(mean, sd) values at least 0.05 from every kink, so that no
// finite-difference step (at most 1e-2) crosses one.
func awayFrom(mean, sd float64, kinks ...float64) func(r *rand.Rand, n int) []float64 {
	return func(r *rand.Rand, n int) []float64 {
		v := make([]float64, n)
		for i := range v {
		draw:
			v[i] = mean + sd*r.NormFloat64()
			for _, k := range kinks {
				if math.Abs(v[i]-k) < 0.05 {
					goto draw
				}
			}
		}
		return v
	}
}

// oneHot returns labels for batch rows of classes columns, row i labelled i mod classes.
func oneHot(batch, classes int) [][]float64 {
	l := make([][]float64, batch)
	for i := range l {
		l[i] = make([]float64, classes)
		l[i][i%classes] = 1
	}
	return l
}

func flatten(m [][]float64) []float64 {
	var v []float64
	for _, row := range m {
		v = append(v, row...)
	}
	return v
}

func numel(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// tensorOf makes a Float or Double tensor of shape from flat values.
func tensorOf(dt tf.DataType, shape []int64, v []float64) (*tf.Tensor, error) {
	var buf bytes.Buffer
	for _, x := range v {
		var err error
		switch dt {
		case tf.Float:
			err = binary.Write(&buf, binary.LittleEndian, float32(x))
		case tf.Double:
			err = binary.Write(&buf, binary.LittleEndian, x)
		default:
			return nil, fmt.Errorf("tensorOf: dtype %v", dt)
		}
		if err != nil {
			return nil, err
		}
	}
	return tf.ReadTensor(dt, shape, &buf)
}

// flat returns a Float or Double tensor's values in row-major order.
func flat(t *tf.Tensor) ([]float64, error) {
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, err
	}
	n := numel(t.Shape())
	out := make([]float64, n)
	switch t.DataType() {
	case tf.Float:
		f := make([]float32, n)
		if err := binary.Read(&buf, binary.LittleEndian, f); err != nil {
			return nil, err
		}
		for i, x := range f {
			out[i] = float64(x)
		}
	case tf.Double:
		if err := binary.Read(&buf, binary.LittleEndian, out); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("flat: dtype %v", t.DataType())
	}
	return out, nil
}

// constant adds a Float or Double Const of shape to s.
func constant(t testing.TB, s *op.Scope, dt tf.DataType, shape []int64, v []float64) tf.Output {
	t.Helper()
	tt, err := tensorOf(dt, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return op.Const(s, tt)
}

// scalar is a 0-d Const of dt holding v.
func scalar(s *op.Scope, dt tf.DataType, v float64) tf.Output {
	if dt == tf.Float {
		return op.Const(s, float32(v))
	}
	return op.Const(s, v)
}

// counter hands out unique sub-scopes: graft does not make op names unique by itself.
type counter struct {
	s *op.Scope
	n int
}

func (c *counter) sub(name string) *op.Scope {
	c.n++
	return c.s.SubScope(fmt.Sprintf("%s_%d", name, c.n))
}

// kerasBatchNorm builds Keras 3's BatchNormalization in training mode the way its TensorFlow
// backend runs it (keras/src/backend/tensorflow/nn.py moments and batch_normalization):
// tf.nn.moments — mean = Mean(x, axes, keepdims), variance = Mean(SquaredDifference(x,
// StopGradient(mean)), axes, keepdims), then Squeeze — and tf.nn.batch_normalization —
// inv = Rsqrt(variance + eps) [* gamma]; x*inv + (beta - mean*inv), or x*inv + Neg(mean*inv)
// without beta.
func kerasBatchNorm(s *op.Scope, x tf.Output, axes []int32, gamma, beta *tf.Output) tf.Output {
	c := &counter{s: s}
	ax := op.Const(c.sub("axes"), axes)
	axes64 := make([]int64, len(axes))
	for i, a := range axes {
		axes64[i] = int64(a)
	}
	mean := op.Mean(c.sub("mean"), x, ax, op.MeanKeepDims(true))
	sq := op.SquaredDifference(c.sub("sqdiff"), x, op.StopGradient(c.sub("stop"), mean))
	variance := op.Mean(c.sub("variance"), sq, ax, op.MeanKeepDims(true))
	mean = op.Squeeze(c.sub("squeeze"), mean, op.SqueezeAxis(axes64))
	variance = op.Squeeze(c.sub("squeeze"), variance, op.SqueezeAxis(axes64))
	inv := op.Rsqrt(c.sub("rsqrt"), op.AddV2(c.sub("add_eps"), variance, scalar(c.sub("eps"), x.DataType(), 1e-3)))
	if gamma != nil {
		inv = op.Mul(c.sub("scale"), inv, *gamma)
	}
	meanInv := op.Mul(c.sub("mean_inv"), mean, inv)
	var shift tf.Output
	if beta != nil {
		shift = op.Sub(c.sub("shift"), *beta, meanInv)
	} else {
		shift = op.Neg(c.sub("shift"), meanInv)
	}
	return op.AddV2(c.sub("out"), op.Mul(c.sub("x_inv"), x, inv), shift)
}

// kerasCategoricalCrossentropy builds keras.losses.categorical_crossentropy on probabilities
// (from_logits=False; keras/src/backend/tensorflow/nn.py): p = p / Sum(p, -1, keepdims);
// p = clip_by_value(p, eps, 1-eps), which TensorFlow builds as Maximum(Minimum(p, 1-eps), eps);
// -Sum(labels * Log(p), -1).
func kerasCategoricalCrossentropy(s *op.Scope, labels, p tf.Output, eps float64) tf.Output {
	c := &counter{s: s}
	dt := p.DataType()
	last := op.Const(c.sub("axis"), int32(-1))
	p = op.RealDiv(c.sub("normalize"), p, op.Sum(c.sub("total"), p, last, op.SumKeepDims(true)))
	p = op.Maximum(c.sub("clip_min"), op.Minimum(c.sub("clip_max"), p, scalar(c.sub("hi"), dt, 1-eps)), scalar(c.sub("lo"), dt, eps))
	return op.Neg(c.sub("neg"), op.Sum(c.sub("sum"), op.Mul(c.sub("mul"), labels, op.Log(c.sub("log"), p)), last))
}

// dense is MatMul + BiasAdd, as a Keras Dense layer builds it.
func dense(s *op.Scope, x, kernel, bias tf.Output) tf.Output {
	return op.BiasAdd(s.SubScope("bias"), op.MatMul(s.SubScope("matmul"), x, kernel), bias)
}

var unit = []int64{1, 1, 1, 1}

// opCases is the table: one row per op (or per Keras composition) the trainer differentiates.
func opCases(t testing.TB) []gradCase {
	f64, f32 := tf.Double, tf.Float
	return []gradCase{
		{name: "Conv2D SAME stride 1", ops: []string{"Conv2D"}, dtype: f64,
			inputs: []input{{[]int64{2, 4, 4, 3}, normal}, {[]int64{3, 3, 3, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Conv2D(s, in[0], in[1], unit, "SAME")
			}},
		{name: "Conv2D VALID stride 2", ops: []string{"Conv2D"}, dtype: f64,
			inputs: []input{{[]int64{1, 6, 5, 2}, normal}, {[]int64{3, 3, 2, 3}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Conv2D(s, in[0], in[1], []int64{1, 2, 2, 1}, "VALID")
			}},
		{name: "DepthwiseConv2dNative SAME stride 1", ops: []string{"DepthwiseConv2dNative"}, dtype: f64,
			inputs: []input{{[]int64{2, 4, 4, 3}, normal}, {[]int64{3, 3, 3, 1}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.DepthwiseConv2dNative(s, in[0], in[1], unit, "SAME")
			}},
		{name: "DepthwiseConv2dNative SAME stride 2", ops: []string{"DepthwiseConv2dNative"}, dtype: f64,
			inputs: []input{{[]int64{1, 5, 5, 2}, normal}, {[]int64{3, 3, 2, 1}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.DepthwiseConv2dNative(s, in[0], in[1], []int64{1, 2, 2, 1}, "SAME")
			}},
		{name: "Keras BatchNormalization training (moments + batch_normalization)",
			ops:    []string{"Mean", "StopGradient", "SquaredDifference", "Squeeze", "AddV2", "Rsqrt", "Mul", "Sub"},
			dtype:  f64,
			inputs: []input{{[]int64{2, 3, 3, 4}, normal}, {[]int64{4}, uniform(0.5, 2)}, {[]int64{4}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return kerasBatchNorm(s, in[0], []int32{0, 1, 2}, &in[1], &in[2])
			}},
		{name: "Keras BatchNormalization training, scale=False (InceptionV3)",
			ops: []string{"Mean", "StopGradient", "SquaredDifference", "Squeeze", "AddV2", "Rsqrt", "Mul", "Neg", "Sub"}, dtype: f64,
			inputs: []input{{[]int64{2, 3, 3, 4}, normal}, {[]int64{4}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return kerasBatchNorm(s, in[0], []int32{0, 1, 2}, nil, &in[1])
			}},
		{name: "Keras BatchNormalization training on Dense features (head)",
			ops: []string{"Mean", "StopGradient", "SquaredDifference", "Squeeze", "AddV2", "Rsqrt", "Mul", "Sub"}, dtype: f64,
			inputs: []input{{[]int64{4, 5}, normal}, {[]int64{5}, uniform(0.5, 2)}, {[]int64{5}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return kerasBatchNorm(s, in[0], []int32{0}, &in[1], &in[2])
			}},
		{name: "FusedBatchNormV3 training", ops: []string{"FusedBatchNormV3"}, dtype: f32,
			inputs: []input{{[]int64{2, 3, 3, 4}, normal}, {[]int64{4}, uniform(0.5, 2)}, {[]int64{4}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				empty := op.Const(s.SubScope("empty"), []float32{})
				y, _, _, _, _, _ := op.FusedBatchNormV3(s, in[0], in[1], in[2], empty, empty,
					op.FusedBatchNormV3IsTraining(true), op.FusedBatchNormV3Epsilon(1e-3))
				return y
			}},
		{name: "FusedBatchNormV3 inference (moving statistics)", ops: []string{"FusedBatchNormV3"}, dtype: f32,
			inputs: []input{{[]int64{2, 3, 3, 4}, normal}, {[]int64{4}, uniform(0.5, 2)}, {[]int64{4}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				mean := op.Const(s.SubScope("mean"), []float32{0.1, -0.2, 0.3, 0})
				variance := op.Const(s.SubScope("variance"), []float32{1, 0.5, 2, 1.5})
				y, _, _, _, _, _ := op.FusedBatchNormV3(s, in[0], in[1], in[2], mean, variance,
					op.FusedBatchNormV3IsTraining(false), op.FusedBatchNormV3Epsilon(1e-3))
				return y
			}},
		{name: "Conv2D + FusedBatchNormV3 training + Relu (float32 block)", ops: []string{"Conv2D", "FusedBatchNormV3", "Relu"}, dtype: f32,
			inputs: []input{{[]int64{2, 4, 4, 2}, normal}, {[]int64{3, 3, 2, 3}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				conv := op.Conv2D(s.SubScope("conv"), in[0], in[1], unit, "SAME")
				gamma := op.Const(s.SubScope("gamma"), []float32{1.5, 0.7, 1})
				beta := op.Const(s.SubScope("beta"), []float32{0.2, -0.1, 0})
				empty := op.Const(s.SubScope("empty"), []float32{})
				y, _, _, _, _, _ := op.FusedBatchNormV3(s.SubScope("bn"), conv, gamma, beta, empty, empty, op.FusedBatchNormV3IsTraining(true))
				// A second-order term so the Relu's output is not piecewise linear in the inputs.
				return op.Relu(s.SubScope("relu"), op.Mul(s.SubScope("sq"), y, y))
			}},
		{name: "Relu", ops: []string{"Relu"}, dtype: f64,
			inputs: []input{{[]int64{3, 4}, awayFrom(0, 1, 0)}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Relu(s, in[0]) }},
		{name: "Relu6", ops: []string{"Relu6"}, dtype: f64,
			inputs: []input{{[]int64{4, 5}, awayFrom(3, 4, 0, 6)}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Relu6(s, in[0]) }},
		{name: "MaxPool 3x3 stride 2 VALID", ops: []string{"MaxPool"}, dtype: f64,
			inputs: []input{{[]int64{2, 5, 5, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.MaxPool(s, in[0], []int64{1, 3, 3, 1}, []int64{1, 2, 2, 1}, "VALID")
			}},
		{name: "MaxPool 3x3 stride 1 SAME", ops: []string{"MaxPool"}, dtype: f64,
			inputs: []input{{[]int64{1, 4, 4, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.MaxPool(s, in[0], []int64{1, 3, 3, 1}, unit, "SAME")
			}},
		{name: "AvgPool 3x3 stride 1 SAME (InceptionV3 branch)", ops: []string{"AvgPool"}, dtype: f64,
			inputs: []input{{[]int64{1, 4, 4, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.AvgPool(s, in[0], []int64{1, 3, 3, 1}, unit, "SAME")
			}},
		{name: "AvgPool 4x4 stride 4 VALID (head)", ops: []string{"AvgPool"}, dtype: f64,
			inputs: []input{{[]int64{2, 8, 4, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.AvgPool(s, in[0], []int64{1, 4, 4, 1}, []int64{1, 4, 4, 1}, "VALID")
			}},
		{name: "Pad (ZeroPadding2D)", ops: []string{"Pad"}, dtype: f64,
			inputs: []input{{[]int64{2, 3, 3, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Pad(s, in[0], op.Const(s.SubScope("paddings"), [][]int32{{0, 0}, {0, 1}, {1, 1}, {0, 0}}))
			}},
		{name: "ConcatV2 channels", ops: []string{"ConcatV2"}, dtype: f64,
			inputs: []input{{[]int64{2, 2, 2, 3}, normal}, {[]int64{2, 2, 2, 1}, normal}, {[]int64{2, 2, 2, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.ConcatV2(s, in, op.Const(s.SubScope("axis"), int32(3)))
			}},
		{name: "AddV2 broadcasting", ops: []string{"AddV2"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{3}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.AddV2(s, in[0], in[1]) }},
		{name: "MatMul", ops: []string{"MatMul"}, dtype: f64,
			inputs: []input{{[]int64{3, 4}, normal}, {[]int64{4, 2}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.MatMul(s, in[0], in[1]) }},
		{name: "BiasAdd NHWC", ops: []string{"BiasAdd"}, dtype: f64,
			inputs: []input{{[]int64{2, 2, 2, 3}, normal}, {[]int64{3}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.BiasAdd(s, in[0], in[1]) }},
		{name: "Reshape (Flatten)", ops: []string{"Reshape"}, dtype: f64,
			inputs: []input{{[]int64{2, 2, 2, 3}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Mul(s.SubScope("sq"), op.Reshape(s, in[0], op.Const(s.SubScope("shape"), []int32{2, -1})), op.Const(s.SubScope("w"), [][]float64{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12}}))
			}},
		{name: "Mean (GlobalAveragePooling2D)", ops: []string{"Mean"}, dtype: f64,
			inputs: []input{{[]int64{2, 3, 3, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Mean(s, in[0], op.Const(s.SubScope("axes"), []int32{1, 2}))
			}},
		{name: "Sum", ops: []string{"Sum"}, dtype: f64,
			inputs: []input{{[]int64{3, 4}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Sum(s, in[0], op.Const(s.SubScope("axis"), int32(-1)))
			}},
		{name: "Softmax", ops: []string{"Softmax"}, dtype: f64,
			inputs: []input{{[]int64{3, 4}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Softmax(s, in[0]) }},
		// float32 only: TensorFlow's C++ gradient multiplies by a float constant (-1.0f),
		// so building it for float64 fails.
		{name: "SoftmaxCrossEntropyWithLogits (Keras categorical_crossentropy after a Softmax layer)",
			ops: []string{"SoftmaxCrossEntropyWithLogits"}, dtype: f32,
			inputs: []input{{[]int64{3, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				loss, _ := op.SoftmaxCrossEntropyWithLogits(s, in[0], constant(t, s.SubScope("labels"), tf.Float, []int64{3, 2}, flatten(oneHot(3, 2))))
				return loss
			}},
		{name: "Keras categorical_crossentropy on probabilities",
			ops: []string{"Sum", "RealDiv", "Minimum", "Maximum", "Log", "Mul", "Neg"}, dtype: f64,
			inputs: []input{{[]int64{3, 2}, uniform(0.05, 1)}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return kerasCategoricalCrossentropy(s, op.Const(s.SubScope("labels"), oneHot(3, 2)), in[0], 1e-7)
			}},
		{name: "Maximum/Minimum clipping active", ops: []string{"Maximum", "Minimum"}, dtype: f64,
			// Values on both sides of both bounds, none near one: clipped ones get zero gradient.
			inputs: []input{{[]int64{4, 5}, awayFrom(0.5, 0.4, 0.3, 0.7)}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Maximum(s.SubScope("max"), op.Minimum(s.SubScope("min"), in[0], op.Const(s.SubScope("hi"), 0.7)), op.Const(s.SubScope("lo"), 0.3))
			}},
		{name: "Log", ops: []string{"Log"}, dtype: f64,
			inputs: []input{{[]int64{3, 3}, uniform(0.1, 3)}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Log(s, in[0]) }},
		{name: "Square", ops: []string{"Square"}, dtype: f64,
			inputs: []input{{[]int64{3, 3}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Square(s, in[0]) }},
		{name: "Rsqrt", ops: []string{"Rsqrt"}, dtype: f64,
			inputs: []input{{[]int64{3, 3}, uniform(0.1, 3)}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Rsqrt(s, in[0]) }},
		{name: "Sub broadcasting", ops: []string{"Sub"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{2, 1}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Sub(s, in[0], in[1]) }},
		{name: "Mul broadcasting", ops: []string{"Mul"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{3}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Mul(s, in[0], in[1]) }},
		{name: "RealDiv", ops: []string{"RealDiv"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{2, 3}, uniform(0.5, 2)}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.RealDiv(s, in[0], in[1]) }},
		{name: "DivNoNan (Keras sum_over_batch_size)", ops: []string{"DivNoNan"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{2, 3}, uniform(0.5, 2)}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.DivNoNan(s, in[0], in[1]) }},
		{name: "Neg", ops: []string{"Neg"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.Neg(s, in[0]) }},
		{name: "SquaredDifference", ops: []string{"SquaredDifference"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{3}, normal}},
			build:  func(s *op.Scope, in []tf.Output) tf.Output { return op.SquaredDifference(s, in[0], in[1]) }},
		{name: "Squeeze", ops: []string{"Squeeze"}, dtype: f64,
			inputs: []input{{[]int64{1, 3, 1, 2}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Square(s.SubScope("sq"), op.Squeeze(s, in[0], op.SqueezeAxis([]int64{0, 2})))
			}},
		{name: "Identity", ops: []string{"Identity"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Square(s.SubScope("sq"), op.Identity(s, in[0]))
			}},
		{name: "Cast float32 to float64", ops: []string{"Cast"}, dtype: f32,
			inputs: []input{{[]int64{2, 3}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Square(s.SubScope("sq"), op.Cast(s, in[0], tf.Double))
			}},
		{name: "SelectV2 (a training switch that keeps gradients)", ops: []string{"SelectV2"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}, {[]int64{2, 3}, normal}},
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				cond := op.Const(s.SubScope("cond"), []bool{true, false, true})
				return s.AddOperation(tf.OpSpec{Type: "SelectV2", Input: []tf.Input{cond, in[0], op.Square(s.SubScope("sq"), in[1])}}).Output(0)
			}},
		{name: "StopGradient (zero gradient)", ops: []string{"StopGradient"}, dtype: f64,
			inputs: []input{{[]int64{2, 3}, normal}},
			// y = x * StopGradient(x): the gradient of sum(y*w) is w*x, not the 2*w*x that
			// finite differences see.
			build: func(s *op.Scope, in []tf.Output) tf.Output {
				return op.Mul(s.SubScope("mul"), in[0], op.StopGradient(s, in[0]))
			},
			want: func(in [][]float64, w []float64) [][]float64 {
				g := make([]float64, len(w))
				for i := range g {
					g[i] = w[i] * in[0][i]
				}
				return [][]float64{g}
			}},
	}
}

func TestOpGradientsMatchFiniteDifferences(t *testing.T) {
	for i, c := range opCases(t) {
		t.Run(c.name, func(t *testing.T) {
			checkCase(t, c, uint64(i))
		})
	}
}

func checkCase(t *testing.T, c gradCase, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2024))
	s := op.NewScope()
	xs := make([]tf.Output, len(c.inputs))
	vals := make([][]float64, len(c.inputs))
	for i, in := range c.inputs {
		xs[i] = op.Placeholder(s.SubScope(fmt.Sprintf("x%d", i)), c.dtype, op.PlaceholderShape(tf.MakeShape(in.shape...)))
		vals[i] = in.gen(r, numel(in.shape))
	}
	y := c.build(s.SubScope("forward"), xs)
	if err := s.Err(); err != nil {
		t.Fatalf("building the forward graph: %v", err)
	}
	yShape, err := y.Shape().ToSlice()
	if err != nil {
		t.Fatalf("forward output shape %v not fully known: %v", y.Shape(), err)
	}
	w := normal(r, numel(yShape))
	seedOut := constant(t, s.SubScope("seed"), y.DataType(), yShape, w)
	dxs, err := Add(s, []tf.Output{y}, xs, WithSeeds(seedOut))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	sess := session(t, s)

	feed := func(v [][]float64) map[tf.Output]*tf.Tensor {
		m := map[tf.Output]*tf.Tensor{}
		for i, x := range xs {
			tt, err := tensorOf(c.dtype, c.inputs[i].shape, v[i])
			if err != nil {
				t.Fatal(err)
			}
			m[x] = tt
		}
		return m
	}
	analytic := fetchAll(t, sess, feed(vals), dxs)
	if c.want != nil {
		compare(t, names(c.inputs), analytic, c.want(vals, w), tol64)
		return
	}
	loss := func(v [][]float64) float64 {
		ys := fetchAll(t, sess, feed(v), []tf.Output{y})
		return dot(ys[0], w)
	}
	h, tol := step64, tol64
	if c.dtype == tf.Float {
		h, tol = step32, tol32
	}
	compare(t, names(c.inputs), analytic, finiteDifferences(vals, loss, h), tol)
}

func names(in []input) []string {
	n := make([]string, len(in))
	for i, x := range in {
		n[i] = fmt.Sprintf("input %d %v", i, x.shape)
	}
	return n
}

func session(t *testing.T, s *op.Scope) *tf.Session {
	t.Helper()
	g, err := s.Finalize()
	if err != nil {
		t.Fatalf("graph: %v", err)
	}
	sess, err := tf.NewSession(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func fetchAll(t *testing.T, sess *tf.Session, feeds map[tf.Output]*tf.Tensor, outs []tf.Output) [][]float64 {
	t.Helper()
	res, err := sess.Run(feeds, outs, nil)
	if err != nil {
		t.Fatalf("session run: %v", err)
	}
	vals := make([][]float64, len(res))
	for i, r := range res {
		if vals[i], err = flat(r); err != nil {
			t.Fatal(err)
		}
	}
	return vals
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// finiteDifferences returns (loss(v + h e_j) - loss(v - h e_j)) / 2h for every element j of
// every input.
func finiteDifferences(vals [][]float64, loss func([][]float64) float64, h float64) [][]float64 {
	grads := make([][]float64, len(vals))
	for i := range vals {
		grads[i] = make([]float64, len(vals[i]))
		for j := range vals[i] {
			orig := vals[i][j]
			vals[i][j] = orig + h
			plus := loss(vals)
			vals[i][j] = orig - h
			minus := loss(vals)
			vals[i][j] = orig
			grads[i][j] = (plus - minus) / (2 * h)
		}
	}
	return grads
}

// compare fails the test for each input whose analytic gradient is off the expected one by
// more than tol * max(1, max |expected|), naming the worst element.
func compare(t *testing.T, names []string, analytic, expected [][]float64, tol float64) {
	t.Helper()
	for i := range expected {
		if len(analytic[i]) != len(expected[i]) {
			t.Errorf("%s: analytic gradient has %d elements, want %d", names[i], len(analytic[i]), len(expected[i]))
			continue
		}
		scale, worst, at := 1.0, 0.0, 0
		for _, v := range expected[i] {
			scale = math.Max(scale, math.Abs(v))
		}
		for j := range expected[i] {
			if d := math.Abs(analytic[i][j] - expected[i][j]); d > worst || math.IsNaN(d) {
				worst, at = d, j
			}
		}
		t.Logf("%s: worst |analytic - expected| = %.3g, %.2f%% of the tolerance", names[i], worst, 100*worst/(tol*scale))
		if worst > tol*scale || math.IsNaN(worst) {
			t.Errorf("%s: gradient element %d = %.8g, want %.8g (finite differences); |diff| %.3g > %.3g",
				names[i], at, analytic[i][at], expected[i][at], worst, tol*scale)
		}
	}
}

func TestGradientsThroughResourceVariables(t *testing.T) {
	// loss = sum((x·W + b)²) with W, b resource variables; gradients w.r.t. their reads,
	// checked by re-assigning perturbed values to the variables.
	s := op.NewScope()
	x := op.Const(s.SubScope("x"), [][]float64{{1, -2, 0.5}, {0.3, 0.7, -1.1}})
	wVals := []float64{0.2, -0.4, 1.1, 0.5, -0.3, 0.8}
	bVals := []float64{0.1, -0.6}
	type v struct {
		name   string
		shape  []int64
		vals   []float64
		handle tf.Output
		read   tf.Output
		value  tf.Output // placeholder assigned to the variable
		assign *tf.Operation
	}
	vars := []*v{{name: "kernel", shape: []int64{3, 2}, vals: wVals}, {name: "bias", shape: []int64{2}, vals: bVals}}
	for _, vr := range vars {
		vs := s.SubScope(vr.name)
		vr.handle = op.VarHandleOp(vs, tf.Double, tf.MakeShape(vr.shape...), op.VarHandleOpSharedName(vr.name))
		vr.value = op.Placeholder(vs.SubScope("value"), tf.Double, op.PlaceholderShape(tf.MakeShape(vr.shape...)))
		vr.assign = op.AssignVariableOp(vs.SubScope("assign"), vr.handle, vr.value)
		vr.read = op.ReadVariableOp(vs.SubScope("read"), vr.handle, tf.Double)
	}
	pre := dense(s.SubScope("dense"), x, vars[0].read, vars[1].read)
	loss := op.Sum(s.SubScope("loss"), op.Square(s.SubScope("sq"), pre), op.Const(s.SubScope("axes"), []int32{0, 1}))
	dxs, err := Add(s, []tf.Output{loss}, []tf.Output{vars[0].read, vars[1].read})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	sess := session(t, s)
	assign := func(vals [][]float64) {
		for i, vr := range vars {
			tt, err := tensorOf(tf.Double, vr.shape, vals[i])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sess.Run(map[tf.Output]*tf.Tensor{vr.value: tt}, nil, []*tf.Operation{vr.assign}); err != nil {
				t.Fatalf("assign %s: %v", vr.name, err)
			}
		}
	}
	vals := [][]float64{wVals, bVals}
	assign(vals)
	analytic := fetchAll(t, sess, nil, dxs)
	lossAt := func(v [][]float64) float64 {
		assign(v)
		return fetchAll(t, sess, nil, []tf.Output{loss})[0][0]
	}
	numeric := finiteDifferences(vals, lossAt, step64)
	compare(t, []string{"kernel read", "bias read"}, analytic, numeric, tol64)

	// Hand-computed: dL/db = sum over rows of 2·(x·W + b).
	assign([][]float64{wVals, bVals})
	got := fetchAll(t, sess, nil, dxs)[1]
	xv := [][]float64{{1, -2, 0.5}, {0.3, 0.7, -1.1}}
	want := make([]float64, 2)
	for j := range want {
		for _, row := range xv {
			want[j] += 2 * (row[0]*wVals[j] + row[1]*wVals[2+j] + row[2]*wVals[4+j] + bVals[j])
		}
	}
	approx.Within(t, "dL/dbias vs by hand", got, want, approx.Abs, 1e-12)
}

// combined describes a variant of the one graph that uses every op together.
type combined struct {
	name  string
	dtype tf.DataType
	fused bool // FusedBatchNormV3 for the backbone's BatchNormalization, else Keras's ops
	// logits adds SoftmaxCrossEntropyWithLogits (float32 only) to the loss; the
	// cross-entropy on probabilities is always there.
	logits bool
	h, tol float64
}

// TestCombinedGraphGradientsMatchFiniteDifferences checks one small network that chains every
// op the trainer differentiates — a MobileNet-style block (ZeroPadding2D, strided Conv2D,
// BatchNormalization, ReLU6), an Xception-style separable block (DepthwiseConv2dNative +
// pointwise Conv2D, BatchNormalization with scale=False as in InceptionV3, ReLU), MaxPool and
// AvgPool branches added and concatenated, the paper's head (4x4-style pooling, Flatten, Dense
// + ReLU, BatchNormalization, Dense, Softmax) and Keras's categorical cross-entropy with the
// sum_over_batch_size reduction — with every weight a resource variable, against central
// finite differences of the loss.
func TestCombinedGraphGradientsMatchFiniteDifferences(t *testing.T) {
	for _, v := range []combined{
		{name: "float64 Keras BatchNormalization, cross-entropy on probabilities", dtype: tf.Double, h: step64, tol: tol64},
		{name: "float32 FusedBatchNormV3, SoftmaxCrossEntropyWithLogits", dtype: tf.Float, fused: true, logits: true, h: 1e-3, tol: 1e-2},
	} {
		t.Run(v.name, func(t *testing.T) { checkCombined(t, v) })
	}
}

func checkCombined(t *testing.T, v combined) {
	r := rand.New(rand.NewPCG(7, 11))
	s := op.NewScope()
	c := &counter{s: s}
	dt := v.dtype
	type param struct {
		name  string
		shape []int64
		read  tf.Output
		vals  []float64
	}
	var params []*param
	var inits []*tf.Operation
	newParam := func(name string, shape []int64, gen func(*rand.Rand, int) []float64) tf.Output {
		ps := s.SubScope(name)
		p := &param{name: name, shape: shape, vals: gen(r, numel(shape))}
		h := op.VarHandleOp(ps, dt, tf.MakeShape(shape...), op.VarHandleOpSharedName(name))
		inits = append(inits, op.AssignVariableOp(ps.SubScope("init"), h, constant(t, ps.SubScope("initial"), dt, shape, p.vals)))
		p.read = op.ReadVariableOp(ps.SubScope("read"), h, dt)
		params = append(params, p)
		return p.read
	}
	scaled := func(sd float64) func(*rand.Rand, int) []float64 {
		return func(r *rand.Rand, n int) []float64 {
			v := normal(r, n)
			for i := range v {
				v[i] *= sd
			}
			return v
		}
	}
	ints := func(s *op.Scope, v []int32) tf.Output { return op.Const(s, v) }
	batch := 3
	labels := constant(t, c.sub("labels"), dt, []int64{3, 2}, flatten(oneHot(batch, 2)))
	xShape := []int64{3, 9, 9, 3}
	xVals := normal(r, numel(xShape))
	x := op.Placeholder(c.sub("x"), dt, op.PlaceholderShape(tf.MakeShape(xShape...)))

	batchNorm := func(in tf.Output, name string, withScale bool) tf.Output {
		if err := s.Err(); err != nil {
			t.Fatalf("building the graph: %v", err)
		}
		ch := in.Shape().Size(3)
		beta := newParam(name+"/beta", []int64{ch}, scaled(0.3))
		var gamma tf.Output
		if withScale || v.fused {
			gamma = newParam(name+"/gamma", []int64{ch}, uniform(0.5, 1.5))
		}
		if v.fused {
			empty := constant(t, c.sub("empty"), dt, []int64{0}, nil)
			y, _, _, _, _, _ := op.FusedBatchNormV3(c.sub(name), in, gamma, beta, empty, empty, op.FusedBatchNormV3IsTraining(true), op.FusedBatchNormV3Epsilon(1e-3))
			return y
		}
		if !withScale {
			return kerasBatchNorm(c.sub(name), in, []int32{0, 1, 2}, nil, &beta)
		}
		return kerasBatchNorm(c.sub(name), in, []int32{0, 1, 2}, &gamma, &beta)
	}

	// MobileNet v1 stem: ZeroPadding2D(((0,1),(0,1))), Conv2D 3x3 stride 2 VALID, BN, ReLU6.
	p := op.Pad(c.sub("pad"), x, op.Const(c.sub("paddings"), [][]int32{{0, 0}, {0, 1}, {0, 1}, {0, 0}}))
	conv1 := op.Conv2D(c.sub("conv1"), p, newParam("conv1/kernel", []int64{3, 3, 3, 4}, scaled(0.5)), []int64{1, 2, 2, 1}, "VALID")
	// ×3 so that ReLU6's upper bound is reached by some units.
	a1 := op.Relu6(c.sub("relu6"), op.Mul(c.sub("x3"), batchNorm(conv1, "bn1", true), scalar(c.sub("three"), dt, 3)))
	// Xception separable conv: depthwise 3x3 then pointwise 1x1; BN scale=False; ReLU.
	dw := op.DepthwiseConv2dNative(c.sub("dw"), a1, newParam("sep/depthwise_kernel", []int64{3, 3, 4, 1}, scaled(0.5)), unit, "SAME")
	pw := op.Conv2D(c.sub("pw"), dw, newParam("sep/pointwise_kernel", []int64{1, 1, 4, 4}, scaled(0.5)), unit, "SAME")
	a2 := op.Relu(c.sub("relu"), batchNorm(pw, "bn2", false))
	// InceptionV3-style branches: MaxPool 3x3 and AvgPool 3x3 SAME, added, then concatenated.
	mx := op.MaxPool(c.sub("maxpool"), a2, []int64{1, 3, 3, 1}, unit, "SAME")
	av := op.AvgPool(c.sub("avgpool"), a1, []int64{1, 3, 3, 1}, unit, "SAME")
	cat := op.ConcatV2(c.sub("concat"), []tf.Output{op.AddV2(c.sub("residual"), mx, av), a2}, op.Const(c.sub("axis"), int32(3)))
	// The head: pooling, Flatten, Dense + ReLU, BatchNormalization, Dense, Softmax.
	pooled := op.AvgPool(c.sub("head_pool"), cat, []int64{1, 2, 2, 1}, []int64{1, 2, 2, 1}, "VALID")
	flat := op.Reshape(c.sub("flatten"), pooled, ints(c.sub("flat_shape"), []int32{-1, 32}))
	w1 := newParam("dense1/kernel", []int64{32, 6}, scaled(0.3))
	h1 := op.Relu(c.sub("dense1_relu"), dense(c.sub("dense1"), flat, w1, newParam("dense1/bias", []int64{6}, scaled(0.1))))
	g3 := newParam("bn3/gamma", []int64{6}, uniform(0.5, 1.5))
	b3 := newParam("bn3/beta", []int64{6}, scaled(0.3))
	hb := kerasBatchNorm(c.sub("bn3"), h1, []int32{0}, &g3, &b3)
	logits := op.Identity(c.sub("logits"), dense(c.sub("dense2"), hb, newParam("dense2/kernel", []int64{6, 2}, scaled(0.5)), newParam("dense2/bias", []int64{2}, scaled(0.1))))
	probs := op.Softmax(c.sub("softmax"), logits)
	perExample := kerasCategoricalCrossentropy(c.sub("cce"), labels, probs, 1e-7)
	if v.logits {
		xent, _ := op.SoftmaxCrossEntropyWithLogits(c.sub("xent"), logits, labels)
		perExample = op.AddV2(c.sub("both"), perExample, xent)
	}
	// Keras's sum_over_batch_size: Sum / DivNoNan(·, Cast(batch size)); plus an L2 term on
	// the first Dense kernel and one on the global average of the concatenation (Mean).
	total := op.Sum(c.sub("total"), perExample, ints(c.sub("batch_axis"), []int32{0}))
	loss := op.DivNoNan(c.sub("mean_loss"), total, op.Cast(c.sub("count"), op.Const(c.sub("n"), int32(batch)), dt))
	l2 := op.Sum(c.sub("l2"), op.Square(c.sub("w1_sq"), w1), ints(c.sub("all"), []int32{0, 1}))
	gap := op.Mean(c.sub("gap"), cat, ints(c.sub("hw"), []int32{1, 2}))
	gapL2 := op.Sum(c.sub("gap_l2"), op.Square(c.sub("gap_sq"), gap), ints(c.sub("all2"), []int32{0, 1}))
	loss = op.AddV2(c.sub("loss"), loss, op.Mul(c.sub("decay"), scalar(c.sub("rate"), dt, 0.01), op.AddV2(c.sub("reg"), l2, gapL2)))

	if err := s.Err(); err != nil {
		t.Fatalf("building the graph: %v", err)
	}
	xs := []tf.Output{x}
	names := []string{"input x"}
	vals := [][]float64{xVals}
	for _, p := range params {
		xs = append(xs, p.read)
		names = append(names, p.name+" (read)")
		vals = append(vals, p.vals)
	}
	dxs, err := Add(s, []tf.Output{loss}, xs)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	sess := session(t, s)
	if _, err := sess.Run(nil, nil, inits); err != nil {
		t.Fatalf("initializing variables: %v", err)
	}
	xt, err := tensorOf(dt, xShape, xVals)
	if err != nil {
		t.Fatal(err)
	}
	// Analytic: the variables hold the values; only x is fed.
	analytic := fetchAll(t, sess, map[tf.Output]*tf.Tensor{x: xt}, dxs)
	// Numeric: feed perturbed values in place of x and of each variable's read.
	lossAt := func(v [][]float64) float64 {
		feeds := map[tf.Output]*tf.Tensor{}
		for i, o := range xs {
			shape, err := o.Shape().ToSlice()
			if err != nil {
				t.Fatal(err)
			}
			if feeds[o], err = tensorOf(dt, shape, v[i]); err != nil {
				t.Fatal(err)
			}
		}
		return fetchAll(t, sess, feeds, []tf.Output{loss})[0][0]
	}
	compare(t, names, analytic, finiteDifferences(vals, lossAt, v.h), v.tol)
}
