package tfgraph

import (
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// Keras layer semantics, reproduced op for op on TensorFlow's graph API.
//
// A builder builds the network function several times in one graph: first the inference
// pass (BatchNormalization reads the moving statistics), which creates every variable,
// then training passes under their own scopes ("train/": batch statistics plus the
// moving-average update ops; "train_head/": the head alone), which find the same
// variables by their Keras weight paths. Each Keras layer gets a sub-scope named exactly
// as the Keras layer, so graph node names read "conv_dw_1/..." (inference) and
// "train/conv_dw_1/..." (training).

// Keras defaults for BatchNormalization.
const (
	bnMomentum       = 0.99
	bnDefaultEpsilon = 1e-3
)

// builder holds the state of one Build.
type builder struct {
	root     *op.Scope
	pass     *op.Scope // scope of the pass being built: root (inference) or root/train
	training bool      // the pass being built is the training pass
	seed     int64

	vars  map[string]*Variable
	order []*Variable // Keras's model.weights order (creation order; kerasOrderSince sorts branching backbones)

	layers   []LayerInfo
	producer map[tf.Output]string // output -> Keras layer that made it, for "Connected to"
	outputs  map[string]tf.Output // Keras layer -> its inference-pass output
	uids     map[string]int       // Keras auto-name counters, reset for each pass

	fusedBN  bool           // training passes use FusedBatchNormV3 (Config.BatchNorm fused)
	inHead   bool           // layers being built belong to the paper's head
	headUIDs map[string]int // auto-name counters where the inference pass's head began

	updates []*tf.Operation // BN moving-statistics updates of the training pass

	replica *Replica // the replica whose pass is being built (replicas.go); nil in the model's own passes

	compute tf.DataType // the compute type of the layers being built (precision.go)
}

func newBuilder(root *op.Scope, seed int64) *builder {
	return &builder{
		root:     root,
		pass:     root,
		seed:     seed,
		vars:     map[string]*Variable{},
		producer: map[tf.Output]string{},
		outputs:  map[string]tf.Output{},
		uids:     map[string]int{},
		compute:  tf.Float,
	}
}

// startPass resets the per-pass state so every pass names its layers identically; scope
// is "" for the inference pass, else the prefix of a training pass.
func (b *builder) startPass(scope string) {
	b.training = scope != ""
	b.uids = map[string]int{}
	b.inHead = false
	if b.training {
		b.pass = b.root.SubScope(scope)
	} else {
		b.pass = b.root
	}
}

// layerCtx is one layer being built.
type layerCtx struct {
	b      *builder
	name   string
	class  string
	s      *op.Scope
	params int64
	inputs []string
	dtype  tf.DataType // compute type: inputs and weights are cast to it
}

var (
	snakeRe1 = regexp.MustCompile(`(.)([A-Z][a-z0-9]+)`)
	snakeRe2 = regexp.MustCompile(`([a-z])([A-Z])`)
)

// kerasSnake is Keras's to_snake_case, used for automatic layer names.
func kerasSnake(class string) string {
	s := snakeRe1.ReplaceAllString(class, "${1}_${2}")
	return strings.ToLower(snakeRe2.ReplaceAllString(s, "${1}_${2}"))
}

// autoName names an unnamed layer as a fresh Keras session does: "dense", "dense_1", ...
func (b *builder) autoName(class string) string {
	base := kerasSnake(class)
	n := b.uids[base]
	b.uids[base]++
	if n == 0 {
		return base
	}
	return fmt.Sprintf("%s_%d", base, n)
}

// begin opens a layer: its Keras name (automatic when name is ""), its scope.
func (b *builder) begin(name, class string, inputs ...tf.Output) *layerCtx {
	if name == "" {
		name = b.autoName(class)
	}
	l := &layerCtx{b: b, name: name, class: class, s: b.pass.SubScope(name), dtype: b.compute}
	for _, in := range inputs {
		l.inputs = append(l.inputs, b.producer[in])
	}
	return l
}

// end closes a layer: records its summary row (once, in the inference pass).
func (b *builder) end(l *layerCtx, out tf.Output) tf.Output {
	if b.root.Err() != nil {
		panic(buildError{fmt.Errorf("layer %s (%s): %w", l.name, l.class, CleanError(b.root.Err()))})
	}
	b.producer[out] = l.name
	if !b.finding() {
		b.outputs[l.name] = out
		b.layers = append(b.layers, LayerInfo{
			Name: l.name, Type: l.class, OutputShape: staticShape(out)[1:],
			Params: l.params, Trainable: true, Inputs: l.inputs,
		})
	}
	return out
}

// buildError carries a construction error out of the layer code to Build's recover.
type buildError struct{ err error }

// sub is a uniquely named sub-scope of the layer for one op (graft names ops by type).
func (l *layerCtx) sub(name string) *op.Scope { return l.s.SubScope(name) }

// weight returns the layer's variable "<layer>/<weight>", creating it in the inference
// pass and finding it again in the training pass.
func (l *layerCtx) weight(weight string, shape []int64, trainable bool, init initializer) tf.Output {
	b := l.b
	name := l.name + "/" + weight
	l.params += numElements(shape)
	if v, ok := b.vars[name]; ok {
		if !b.finding() || !slices.Equal(v.Shape, shape) {
			panic(buildError{fmt.Errorf("layer %s: weight %s defined twice (shapes %v, %v)", l.name, name, v.Shape, shape)})
		}
		return v.Value
	}
	if b.finding() {
		panic(buildError{fmt.Errorf("layer %s: weight %s appears only in the training pass", l.name, name)})
	}
	seed := []int64{b.seed, nameSeed(name)}
	v := newVariable(l.s, l.name, weight, shape, trainable, func(s *op.Scope) tf.Output { return init(s, shape, seed) })
	v.Head = b.inHead
	b.vars[name] = v
	b.order = append(b.order, v)
	return v.Value
}

// variable returns the layer's variable weight, created earlier in the inference pass.
func (l *layerCtx) variable(weight string) *Variable { return l.b.vars[l.name+"/"+weight] }

// nameSeed turns a weight path into the second half of a stateless seed, so each
// variable draws its own reproducible numbers.
func nameSeed(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64() >> 1)
}

// An initializer computes a variable's initial value in the graph from a stateless seed.
type initializer func(s *op.Scope, shape []int64, seed []int64) tf.Output

// kerasFans is Keras's compute_fans.
func kerasFans(shape []int64) (fanIn, fanOut float64) {
	switch len(shape) {
	case 0:
		return 1, 1
	case 1:
		return float64(shape[0]), float64(shape[0])
	case 2:
		return float64(shape[0]), float64(shape[1])
	}
	rf := numElements(shape[:len(shape)-2])
	return float64(shape[len(shape)-2] * rf), float64(shape[len(shape)-1] * rf)
}

// glorotUniform is Keras's default kernel initializer: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
func glorotUniform(s *op.Scope, shape []int64, seed []int64) tf.Output {
	fanIn, fanOut := kerasFans(shape)
	limit := float32(math.Sqrt(6 / (fanIn + fanOut)))
	u := op.StatelessRandomUniform(s.SubScope("uniform"), op.Const(s.SubScope("shape"), shape), op.Const(s.SubScope("seed"), seed))
	scaled := op.Mul(s.SubScope("scale"), u, op.Const(s.SubScope("width"), 2*limit))
	return op.Sub(s.SubScope("shift"), scaled, op.Const(s.SubScope("limit"), limit))
}

func constInit(value float32) initializer {
	return func(s *op.Scope, shape []int64, _ []int64) tf.Output {
		return op.Fill(s, op.Const(s.SubScope("shape"), shape), op.Const(s.SubScope("value"), value))
	}
}

var (
	zerosInit = constInit(0)
	onesInit  = constInit(1)
)

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// staticShape is the inferred shape of x (-1 for unknown dimensions).
func staticShape(x tf.Output) []int64 {
	s := x.Shape()
	n := s.NumDimensions()
	out := make([]int64, max(n, 0))
	for i := range out {
		out[i] = s.Size(i)
	}
	return out
}

func channels(x tf.Output) int64 { sh := staticShape(x); return sh[len(sh)-1] }

func scalar(s *op.Scope, v float32) tf.Output { return op.Const(s, v) }

func tfPadding(padding string) string { return strings.ToUpper(padding) }

// ---- Layers. Each mirrors the Keras 3 layer of the same name (TensorFlow backend). ----

// Conv2D is keras.layers.Conv2D (channels last, no dilation): weights kernel
// [kh, kw, in, filters] and, with useBias, bias [filters].
func (b *builder) Conv2D(x tf.Output, name string, filters int64, kernel, strides [2]int64, padding string, useBias bool) tf.Output {
	l := b.begin(name, "Conv2D", x)
	x = l.cast(x)
	k := l.cast(l.weight("kernel", []int64{kernel[0], kernel[1], channels(x), filters}, true, glorotUniform))
	y := op.Conv2D(l.sub("convolution"), x, k, []int64{1, strides[0], strides[1], 1}, tfPadding(padding))
	if useBias {
		y = op.BiasAdd(l.sub("bias_add"), y, l.cast(l.weight("bias", []int64{filters}, true, zerosInit)))
	}
	return b.end(l, y)
}

// DepthwiseConv2D is keras.layers.DepthwiseConv2D: weights kernel (Keras 3's name; Keras
// 2 and the legacy .h5 files call it depthwise_kernel) [kh, kw, in, depthMultiplier] and,
// with useBias, bias [in * depthMultiplier].
func (b *builder) DepthwiseConv2D(x tf.Output, name string, kernel, strides [2]int64, padding string, depthMultiplier int64, useBias bool) tf.Output {
	l := b.begin(name, "DepthwiseConv2D", x)
	x = l.cast(x)
	in := channels(x)
	k := l.cast(l.weight("kernel", []int64{kernel[0], kernel[1], in, depthMultiplier}, true, glorotUniform))
	y := op.DepthwiseConv2dNative(l.sub("depthwise"), x, k, []int64{1, strides[0], strides[1], 1}, tfPadding(padding))
	if useBias {
		y = op.BiasAdd(l.sub("bias_add"), y, l.cast(l.weight("bias", []int64{in * depthMultiplier}, true, zerosInit)))
	}
	return b.end(l, y)
}

// SeparableConv2D is keras.layers.SeparableConv2D (depth multiplier 1, as Xception uses
// it): a depthwise convolution with strides and padding, then a 1 x 1 pointwise
// convolution; weights depthwise_kernel, pointwise_kernel and, with useBias, bias.
func (b *builder) SeparableConv2D(x tf.Output, name string, filters int64, kernel, strides [2]int64, padding string, useBias bool) tf.Output {
	l := b.begin(name, "SeparableConv2D", x)
	x = l.cast(x)
	in := channels(x)
	dk := l.cast(l.weight("depthwise_kernel", []int64{kernel[0], kernel[1], in, 1}, true, glorotUniform))
	pk := l.cast(l.weight("pointwise_kernel", []int64{1, 1, in, filters}, true, glorotUniform))
	y := op.DepthwiseConv2dNative(l.sub("depthwise"), x, dk, []int64{1, strides[0], strides[1], 1}, tfPadding(padding))
	y = op.Conv2D(l.sub("pointwise"), y, pk, []int64{1, 1, 1, 1}, "VALID")
	if useBias {
		y = op.BiasAdd(l.sub("bias_add"), y, l.cast(l.weight("bias", []int64{filters}, true, zerosInit)))
	}
	return b.end(l, y)
}

// BNOptions are the BatchNormalization arguments the architectures set (axis is -1).
type BNOptions struct {
	Epsilon  float64 // Keras default 1e-3
	NoScale  bool    // scale=False: no gamma (InceptionV3's conv2d_bn)
	NoCenter bool    // center=False: no beta
}

// BatchNormalization is keras.layers.BatchNormalization(axis=-1, momentum=0.99).
//
// Inference: tf.nn.batch_normalization on the moving statistics, in its op order:
// inv = rsqrt(var + eps) [* gamma]; y = x * inv + (beta - mean * inv).
// Training: the same on tf.nn.moments' batch mean and biased
// variance over every axis but the last, and update ops
// moving = moving * momentum + batch_stat * (1 - momentum), as Keras 3 assigns them.
// Under a mixed policy it computes in float32, as Keras 3's does, and casts its output to
// the compute type.
// With Config.BatchNorm fused (the default) a 4-D float32 layer's training pass is instead
// one FusedBatchNormV3 (fusedTraining): the same function and updates, in far fewer ops
// forward and backward, with its own float32 rounding. Mixed policies keep the decomposition:
// fused, mixed_bfloat16's step moved far from Keras's (loss 0.22 apart), not yet understood.
func (b *builder) BatchNormalization(x tf.Output, name string, o BNOptions) tf.Output {
	l := b.begin(name, "BatchNormalization", x)
	x = l.castTo(l.cast(x), tf.Float, "cast_float32")
	c := channels(x)
	eps := o.Epsilon
	if eps == 0 {
		eps = bnDefaultEpsilon
	}
	var gamma, beta tf.Output
	if !o.NoScale {
		gamma = l.weight("gamma", []int64{c}, true, onesInit)
	}
	if !o.NoCenter {
		beta = l.weight("beta", []int64{c}, true, zerosInit)
	}
	l.weight("moving_mean", []int64{c}, false, zerosInit)
	l.weight("moving_variance", []int64{c}, false, onesInit)
	movingMean, movingVar := l.stat("moving_mean"), l.stat("moving_variance") // a replica's own copies in a replica pass

	mean, variance := movingMean.Value, movingVar.Value
	if b.training && b.fusedBN && l.dtype == tf.Float && len(staticShape(x)) == 4 {
		y, mean, variance := fusedTraining(l, x, gamma, beta, o, eps)
		b.updates = append(b.updates,
			movingAverageUpdate(l.sub("update_moving_mean"), movingMean, mean),
			movingAverageUpdate(l.sub("update_moving_variance"), movingVar, variance))
		return b.end(l, l.cast(y))
	}
	if b.training {
		mean, variance = moments(l, x)
		b.updates = append(b.updates,
			movingAverageUpdate(l.sub("update_moving_mean"), movingMean, mean),
			movingAverageUpdate(l.sub("update_moving_variance"), movingVar, variance))
	}

	inv := op.Rsqrt(l.sub("rsqrt"), op.AddV2(l.sub("add_epsilon"), variance, scalar(l.sub("epsilon"), float32(eps))))
	if !o.NoScale {
		inv = op.Mul(l.sub("mul_gamma"), inv, gamma)
	}
	meanInv := op.Mul(l.sub("mul_mean"), mean, inv)
	var shift tf.Output
	if o.NoCenter {
		shift = op.Neg(l.sub("neg"), meanInv)
	} else {
		shift = op.Sub(l.sub("sub_beta"), beta, meanInv)
	}
	y := op.AddV2(l.sub("add_shift"), op.Mul(l.sub("mul_x"), x, inv), shift)
	return b.end(l, l.cast(y))
}

// fusedTraining is BatchNormalization in training mode as one FusedBatchNormV3: y, the
// batch mean and the biased batch variance (FusedBatchNormV3 reports the unbiased one,
// n/(n-1) times it, for n values per channel; Keras's moving variance takes the biased).
func fusedTraining(l *layerCtx, x, gamma, beta tf.Output, o BNOptions, eps float64) (y, mean, variance tf.Output) {
	c := channels(x)
	if o.NoScale {
		gamma = op.Const(l.sub("no_gamma"), slices.Repeat([]float32{1}, int(c)))
	}
	if o.NoCenter {
		beta = op.Const(l.sub("no_beta"), make([]float32, c))
	}
	empty := op.Const(l.sub("empty"), []float32{})
	y, mean, unbiased, _, _, _ := op.FusedBatchNormV3(l.sub("fused"), x, gamma, beta, empty, empty,
		op.FusedBatchNormV3Epsilon(float32(eps)), op.FusedBatchNormV3IsTraining(true), op.FusedBatchNormV3DataFormat("NHWC"))
	s := l.sub("biased")
	n := op.Cast(s.SubScope("n"), op.Div(s.SubScope("per_channel"), op.Size(s.SubScope("size"), x, op.SizeOutType(tf.Int64)),
		op.Const(s.SubScope("channels"), c)), tf.Float)
	one := scalar(s.SubScope("one"), 1)
	variance = op.Mul(s.SubScope("scale"), unbiased, op.Div(s.SubScope("ratio"), op.Sub(s.SubScope("n_minus_1"), n, one), n))
	return y, mean, variance
}

// moments is tf.nn.moments(x, axes=all but last): the mean, and the biased variance as the
// mean squared difference from the (gradient-stopped) mean, both of shape [channels].
func moments(l *layerCtx, x tf.Output) (mean, variance tf.Output) {
	rank := len(staticShape(x))
	axes := make([]int32, rank-1)
	for i := range axes {
		axes[i] = int32(i)
	}
	s := l.sub("moments")
	ax := op.Const(s.SubScope("axes"), axes)
	m := op.Mean(s.SubScope("mean"), x, ax, op.MeanKeepDims(true))
	sq := op.SquaredDifference(s.SubScope("squared_difference"), x, op.StopGradient(s.SubScope("stop_gradient"), m))
	v := op.Mean(s.SubScope("variance"), sq, ax, op.MeanKeepDims(true))
	c := op.Const(s.SubScope("channels"), []int64{channels(x)})
	return op.Reshape(s.SubScope("squeeze_mean"), m, c), op.Reshape(s.SubScope("squeeze_variance"), v, c)
}

// movingAverageUpdate assigns moving * momentum + stat * (1 - momentum), with the two
// factors rounded to float32 as Keras's Python floats are when they meet a float32 tensor.
func movingAverageUpdate(s *op.Scope, v *Variable, stat tf.Output) *tf.Operation {
	kept := op.Mul(s.SubScope("decay"), v.Value, scalar(s.SubScope("momentum"), float32(bnMomentum)))
	added := op.Mul(s.SubScope("new"), stat, scalar(s.SubScope("one_minus_momentum"), float32(1.0-bnMomentum)))
	return op.AssignVariableOp(s, v.Handle, op.AddV2(s.SubScope("sum"), kept, added))
}

// ReLU is keras.layers.ReLU() or, with maxValue 6, ReLU(6.) (MobileNet's relu6).
func (b *builder) ReLU(x tf.Output, name string, maxValue float64) tf.Output {
	l := b.begin(name, "ReLU", x)
	x = l.cast(x)
	var y tf.Output
	switch maxValue {
	case 0:
		y = op.Relu(l.sub("relu"), x)
	case 6:
		y = op.Relu6(l.sub("relu6"), x)
	default:
		panic(buildError{fmt.Errorf("layer %s: ReLU(max_value=%g) is not supported (0 or 6)", l.name, maxValue)})
	}
	return b.end(l, y)
}

// Activation is keras.layers.Activation for "relu" and "softmax".
func (b *builder) Activation(x tf.Output, name, fn string) tf.Output {
	l := b.begin(name, "Activation", x)
	return b.end(l, activate(l, l.cast(x), fn))
}

func activate(l *layerCtx, x tf.Output, fn string) tf.Output {
	switch fn {
	case "", "linear":
		return x
	case "relu":
		return op.Relu(l.sub("relu"), x)
	case "softmax":
		return op.Softmax(l.sub("softmax"), x)
	}
	panic(buildError{fmt.Errorf("layer %s: activation %q is not supported (relu, softmax)", l.name, fn)})
}

// ZeroPadding2D is keras.layers.ZeroPadding2D(((top, bottom), (left, right))).
func (b *builder) ZeroPadding2D(x tf.Output, name string, top, bottom, left, right int32) tf.Output {
	l := b.begin(name, "ZeroPadding2D", x)
	x = l.cast(x)
	pads := op.Const(l.sub("paddings"), [][]int32{{0, 0}, {top, bottom}, {left, right}, {0, 0}})
	return b.end(l, op.Pad(l.sub("pad"), x, pads))
}

// MaxPooling2D is keras.layers.MaxPooling2D (strides default to the pool size).
func (b *builder) MaxPooling2D(x tf.Output, name string, pool, strides [2]int64, padding string) tf.Output {
	l := b.begin(name, "MaxPooling2D", x)
	x = l.cast(x)
	y := op.MaxPool(l.sub("max_pool"), x, []int64{1, pool[0], pool[1], 1}, []int64{1, strides[0], strides[1], 1}, tfPadding(padding))
	return b.end(l, y)
}

// AveragePooling2D is keras.layers.AveragePooling2D; with 'same' padding, like TF's
// AvgPool, the padded cells are left out of each average.
func (b *builder) AveragePooling2D(x tf.Output, name string, pool, strides [2]int64, padding string) tf.Output {
	l := b.begin(name, "AveragePooling2D", x)
	x = l.cast(x)
	y := op.AvgPool(l.sub("avg_pool"), x, []int64{1, pool[0], pool[1], 1}, []int64{1, strides[0], strides[1], 1}, tfPadding(padding))
	return b.end(l, y)
}

// Add is keras.layers.Add: the elementwise sum, left to right.
func (b *builder) Add(name string, xs ...tf.Output) tf.Output {
	l := b.begin(name, "Add", xs...)
	y := l.cast(xs[0])
	for _, x := range xs[1:] {
		y = op.AddV2(l.sub("add"), y, l.cast(x))
	}
	return b.end(l, y)
}

// Concatenate is keras.layers.Concatenate(axis=-1).
func (b *builder) Concatenate(name string, xs ...tf.Output) tf.Output {
	l := b.begin(name, "Concatenate", xs...)
	axis := op.Const(l.sub("axis"), int32(len(staticShape(xs[0]))-1))
	cast := make([]tf.Output, len(xs))
	for i, x := range xs {
		cast[i] = l.cast(x)
	}
	return b.end(l, op.ConcatV2(l.sub("concat"), cast, axis))
}

// Flatten is keras.layers.Flatten: [batch, ...] -> [batch, product].
func (b *builder) Flatten(x tf.Output, name string) tf.Output {
	l := b.begin(name, "Flatten", x)
	x = l.cast(x)
	sh := staticShape(x)
	shape := op.Const(l.sub("shape"), []int64{-1, numElements(sh[1:])})
	return b.end(l, op.Reshape(l.sub("reshape"), x, shape))
}

// Dense is keras.layers.Dense(units, activation) with bias: kernel [in, units], bias [units].
// It returns the activation's output and the pre-activation (the logits for softmax).
func (b *builder) Dense(x tf.Output, name string, units int64, activation string) (out, preActivation tf.Output) {
	l := b.begin(name, "Dense", x)
	x = l.cast(x)
	k := l.cast(l.weight("kernel", []int64{channels(x), units}, true, glorotUniform))
	bias := l.cast(l.weight("bias", []int64{units}, true, zerosInit))
	pre := op.BiasAdd(l.sub("bias_add"), op.MatMul(l.sub("matmul"), x, k), bias)
	return b.end(l, activate(l, pre, activation)), pre
}
