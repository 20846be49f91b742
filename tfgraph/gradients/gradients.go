// Package gradients adds the backward pass to a TensorFlow graph: the ops that compute
// d(sum of ys)/d(xs), built by TensorFlow's C++ gradient registry through TF_AddGradients.
// It is the one way xray gets gradients for training: build the loss, then
//
//	grads, err := gradients.Add(scope, []tf.Output{loss}, reads) // reads: each trainable variable's ReadVariableOp
//
// Every op that Keras 3 differentiates through when it trains the three backbones (MobileNet
// v1, Xception, InceptionV3) under the paper's head has a C++ gradient in TensorFlow 2.18, and
// this package's tests check each against central finite differences: Conv2D,
// DepthwiseConv2dNative, the ops of Keras 3's BatchNormalization in training mode (Mean,
// StopGradient, SquaredDifference, Squeeze or Reshape, AddV2, Rsqrt, Mul, Sub, Neg), Relu,
// Relu6, MaxPool, AvgPool, Pad, ConcatV2, MatMul, BiasAdd, Reshape, Identity, Softmax,
// SoftmaxCrossEntropyWithLogits, Sum and DivNoNan (Keras's loss reduction), and also
// FusedBatchNormV3 (training and inference), the ops of categorical cross-entropy on
// probabilities (RealDiv, Minimum, Maximum, Log), Square, Cast and SelectV2.
//
// Constraints for the graphs that are trained:
//   - SoftmaxCrossEntropyWithLogits' C++ gradient works for float32 only (it multiplies by a
//     float constant); xray trains in float32.
//   - Some ops have no C++ gradient, and TF_AddGradients cannot call Go code, so none can be
//     added from here: keep them off the paths from the variables to the loss. replacements
//     lists them with what to build instead, and Add's error names the node and that
//     replacement. In short: no tf.cond-style training switch (Switch/Merge; use SelectV2 on
//     a bool input or separate training and inference passes), ConcatV2 not Concat,
//     FusedBatchNormV3 or Keras's decomposition not FusedBatchNorm(V2), one-hot labels with
//     SoftmaxCrossEntropyWithLogits not the sparse variant.
//   - Read each trainable variable through one ReadVariableOp and pass that read as the x:
//     the gradient with respect to one read does not include the uses of another.
//   - An x that the loss does not depend on is an error (it usually means the wrong tensor was
//     passed) unless ZerosForUnconnected is given.
package gradients

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// Option changes how Add and AddToGraph build the gradients.
type Option func(*config)

type config struct {
	seeds               []tf.Output
	zerosForUnconnected bool
}

// WithSeeds sets the gradients flowing into ys (dL/dys[i], one per y, same type and shape).
// Without it each seed is ones, so the result is d(sum of every element of ys)/dxs.
func WithSeeds(dys ...tf.Output) Option {
	return func(c *config) { c.seeds = dys }
}

// ZerosForUnconnected gives an x that ys do not depend on a zero gradient (ZerosLike(x))
// instead of making Add fail. Use it only where such an x is expected, e.g. a frozen branch.
func ZerosForUnconnected() Option {
	return func(c *config) { c.zerosForUnconnected = true }
}

// Add adds to the graph of s, under a new sub-scope "gradients" (made unique by s), the ops
// that compute d(sum ys)/d(xs[i]) for every x, and returns them in the order of xs. For
// resource variables pass the ReadVariableOp outputs as xs. s must have no control
// dependencies or device set (graft's limitation), and on a scope made with
// op.NewScopeWithGraph over a finished graph, a sub-scope no op of that graph is under
// (or use AddToGraph). On a TensorFlow error graft records it in s, which is then unusable;
// the returned error is the readable one.
func Add(s *op.Scope, ys, xs []tf.Output, opts ...Option) ([]tf.Output, error) {
	if s == nil {
		return nil, errors.New("gradients: nil scope: pass the scope the forward graph was built in")
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("gradients: the scope already holds an error, fix the forward graph first: %s", stripScopeNoise(err.Error()))
	}
	return add(scopeBuilder{s.SubScope("gradients")}, ys, xs, opts)
}

// AddToGraph is Add for a finished graph: the ops go under the first free name prefix of
// "gradients", "gradients_1", ...
func AddToGraph(g *tf.Graph, ys, xs []tf.Output, opts ...Option) ([]tf.Output, error) {
	if g == nil {
		return nil, errors.New("gradients: nil graph: pass the graph that holds ys and xs")
	}
	return add(graphBuilder{g, freePrefix(g, "gradients")}, ys, xs, opts)
}

// builder is where the gradient ops go: a scope or a bare graph.
type builder interface {
	gradients(ys, xs, dys []tf.Output) ([]tf.Output, error)
	zerosLike(x tf.Output, i int) (tf.Output, error)
}

func add(b builder, ys, xs []tf.Output, opts []Option) (dxs []tf.Output, err error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if err := validate(ys, xs, c.seeds); err != nil {
		return nil, err
	}
	// graft and cgo may panic on inputs validate cannot see; turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			dxs, err = nil, fmt.Errorf("gradients: TensorFlow binding panicked: %v", r)
		}
	}()
	// TF_AddGradients fails on an x with no path to ys, so only connected xs go to it.
	w := walk(xs, ys)
	var connected []tf.Output
	var at []int // at[k]: index in xs of connected[k]
	for i, x := range xs {
		if w.reachesY(x) {
			connected = append(connected, x)
			at = append(at, i)
		}
	}
	dxs = make([]tf.Output, len(xs))
	if len(connected) > 0 {
		got, err := b.gradients(ys, connected, c.seeds)
		if err != nil {
			return nil, explain(err, w)
		}
		if len(got) != len(connected) {
			return nil, fmt.Errorf("gradients: TF_AddGradients returned %d gradients for %d xs", len(got), len(connected))
		}
		for k, d := range got {
			// TensorFlow marks an x whose paths all pass through ops without gradient
			// (StopGradient, integer ops) with index -1 on a null op: using that Output
			// would crash in C, so it never leaves this function.
			if d.Op != nil && d.Index >= 0 {
				dxs[at[k]] = d
			}
		}
	}
	var unconnected []string
	for i, d := range dxs {
		if d.Op != nil {
			continue
		}
		if !c.zerosForUnconnected {
			unconnected = append(unconnected, fmt.Sprintf("xs[%d] %s", i, describe(xs[i])))
			continue
		}
		if dxs[i], err = b.zerosLike(xs[i], i); err != nil {
			return nil, fmt.Errorf("gradients: zeros for unconnected xs[%d] %s: %w", i, describe(xs[i]), err)
		}
	}
	if len(unconnected) > 0 {
		return nil, fmt.Errorf("gradients: %s: ys do not depend on it (no path, or only through StopGradient or integer ops); drop it from xs or pass gradients.ZerosForUnconnected()",
			strings.Join(unconnected, ", "))
	}
	return dxs, nil
}

func validate(ys, xs, seeds []tf.Output) error {
	if len(ys) == 0 {
		return errors.New("gradients: no ys: pass the loss (the outputs to differentiate)")
	}
	if len(xs) == 0 {
		return errors.New("gradients: no xs: pass the ReadVariableOp outputs (or other tensors) to differentiate with respect to")
	}
	for _, l := range []struct {
		name string
		outs []tf.Output
	}{{"ys", ys}, {"xs", xs}, {"seeds", seeds}} {
		for i, o := range l.outs {
			if o.Op == nil {
				return fmt.Errorf("gradients: %s[%d] is an empty Output: the op meant to produce it was not built (check Scope.Err())", l.name, i)
			}
			if n := o.Op.NumOutputs(); o.Index < 0 || o.Index >= n {
				return fmt.Errorf("gradients: %s[%d] %s:%d: op has %d outputs", l.name, i, o.Op.Name(), o.Index, n)
			}
		}
	}
	if seeds == nil {
		return nil
	}
	if len(seeds) != len(ys) {
		return fmt.Errorf("gradients: %d seeds for %d ys: pass one seed per y", len(seeds), len(ys))
	}
	for i := range seeds {
		if st, yt := seeds[i].DataType(), ys[i].DataType(); st != yt {
			return fmt.Errorf("gradients: seeds[%d] %s is %s but ys[%d] %s is %s: cast the seed", i, describe(seeds[i]), typeName(st), i, describe(ys[i]), typeName(yt))
		}
	}
	return nil
}

func describe(o tf.Output) string {
	return fmt.Sprintf("%s:%d (%s)", o.Op.Name(), o.Index, o.Op.Type())
}

var noGradientRE = regexp.MustCompile(`No gradient defined for op: (\w+)`)

// explain turns TensorFlow's "No gradient defined for op: T" into an error that names the
// nodes of type T between xs and ys and what to build instead.
func explain(err error, w *graphWalk) error {
	m := noGradientRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("gradients: %w", err)
	}
	typ := m[1]
	nodes := w.between(typ)
	where := "an op"
	if len(nodes) > 0 {
		if len(nodes) > 5 {
			nodes = append(nodes[:5], fmt.Sprintf("and %d more", len(nodes)-5))
		}
		where = "op " + strings.Join(nodes, ", ")
	}
	fix, ok := replacements[typ]
	if !ok {
		fix = "build the forward graph from ops that have C++ gradients (see package gradients)"
	}
	return fmt.Errorf("gradients: %s (%s) between xs and ys has no gradient in this TensorFlow build: %s", where, typ, fix)
}

// graphWalk is the part of a graph downstream of xs, with the ops from which a y is
// reachable. graft exposes only forward edges (an output's consumers), so it walks forward
// from xs and then back from ys over the edges it found.
type graphWalk struct {
	types   map[string]string // op name -> op type, for every op downstream of xs
	reaches map[string]bool   // ops from which some y is reachable (the ys' ops included)
	ys      map[string]bool   // "op:index" of each y
}

func walk(xs, ys []tf.Output) *graphWalk {
	w := &graphWalk{types: map[string]string{}, reaches: map[string]bool{}, ys: map[string]bool{}}
	next := map[string][]string{}
	var stack []*tf.Operation
	for _, x := range xs {
		stack = append(stack, x.Op)
	}
	for len(stack) > 0 {
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		name := o.Name()
		if _, seen := w.types[name]; seen {
			continue
		}
		w.types[name] = o.Type()
		for i := 0; i < o.NumOutputs(); i++ {
			for _, c := range o.Output(i).Consumers() {
				next[name] = append(next[name], c.Op.Name())
				stack = append(stack, c.Op)
			}
		}
	}
	prev := map[string][]string{}
	for from, tos := range next {
		for _, to := range tos {
			prev[to] = append(prev[to], from)
		}
	}
	var queue []string
	for _, y := range ys {
		queue = append(queue, y.Op.Name())
		w.ys[outputKey(y)] = true
	}
	for len(queue) > 0 {
		n := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if w.reaches[n] {
			continue
		}
		w.reaches[n] = true
		queue = append(queue, prev[n]...)
	}
	return w
}

// reachesY tells whether some y depends on x (x is a y, or feeds an op that reaches one).
func (w *graphWalk) reachesY(x tf.Output) bool {
	if w.ys[outputKey(x)] {
		return true
	}
	for _, c := range x.Consumers() {
		if w.reaches[c.Op.Name()] {
			return true
		}
	}
	return false
}

func outputKey(o tf.Output) string { return fmt.Sprintf("%s:%d", o.Op.Name(), o.Index) }

// between lists, sorted, the ops of type typ that lie on a path from an x to a y.
func (w *graphWalk) between(typ string) []string {
	var out []string
	for name, t := range w.types {
		if t == typ && w.reaches[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

type scopeBuilder struct{ s *op.Scope }

func (b scopeBuilder) gradients(ys, xs, dys []tf.Output) ([]tf.Output, error) {
	dxs := op.Gradients(b.s, ys, xs, dys...)
	if err := b.s.Err(); err != nil {
		return nil, errors.New(stripScopeNoise(err.Error()))
	}
	return dxs, nil
}

func (b scopeBuilder) zerosLike(x tf.Output, i int) (tf.Output, error) {
	z := op.ZerosLike(b.s.SubScope(fmt.Sprintf("unconnected_%d", i)), x)
	return z, b.s.Err()
}

// stripScopeNoise keeps the message of a graft scope error, which wraps it in
// `failed to add operation "Type": ... (Stacktrace: ...)`, dropping the multi-line stack
// and, for the Gradients op itself, the wrapper.
func stripScopeNoise(msg string) string {
	if i := strings.Index(msg, " (Stacktrace:"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimPrefix(msg, `failed to add operation "Gradients": `)
}

// typeName names the dtypes gradients meet; graft's DataType has no String method.
func typeName(t tf.DataType) string {
	switch t {
	case tf.Float:
		return "float32"
	case tf.Double:
		return "float64"
	case tf.Half:
		return "float16"
	case tf.Bfloat16:
		return "bfloat16"
	case tf.Int32:
		return "int32"
	case tf.Int64:
		return "int64"
	}
	return fmt.Sprintf("DataType(%d)", t)
}

type graphBuilder struct {
	g      *tf.Graph
	prefix string
}

func (b graphBuilder) gradients(ys, xs, dys []tf.Output) ([]tf.Output, error) {
	return b.g.AddGradients(b.prefix, ys, xs, dys)
}

func (b graphBuilder) zerosLike(x tf.Output, i int) (tf.Output, error) {
	o, err := b.g.AddOperation(tf.OpSpec{
		Type:  "ZerosLike",
		Name:  fmt.Sprintf("%s/unconnected_%d", b.prefix, i),
		Input: []tf.Input{x},
	})
	if err != nil {
		return tf.Output{}, err
	}
	return o.Output(0), nil
}

// freePrefix returns base, or base_N for the smallest N, such that no op of g is named by it
// or under it: TF_AddGradientsWithPrefix refuses a prefix that collides.
func freePrefix(g *tf.Graph, base string) string {
	used := map[string]bool{}
	for _, o := range g.Operations() {
		first, _, _ := strings.Cut(o.Name(), "/")
		used[first] = true
	}
	p := base
	for i := 1; used[p]; i++ {
		p = fmt.Sprintf("%s_%d", base, i)
	}
	return p
}
