// Package gradients adds the backward pass to a TensorFlow graph: the ops that compute
// d(sum of ys)/d(xs), built by TensorFlow's C++ gradient registry through TF_AddGradients.
// It is the one way xray gets gradients for training.
//
// Every op that the three backbones (Keras MobileNet v1, Xception, InceptionV3), the head and
// the loss are built from has a C++ gradient in TensorFlow 2.18, and this package's tests check
// each against central finite differences: Conv2D, DepthwiseConv2dNative, FusedBatchNormV3
// (training and inference), the ops of Keras 3's BatchNormalization (Mean, StopGradient,
// SquaredDifference, Squeeze, AddV2, Rsqrt, Mul, Sub, Neg), Relu, Relu6, MaxPool, AvgPool,
// Pad, ConcatV2, AddV2, MatMul, BiasAdd, Reshape, Mean, Softmax, SoftmaxCrossEntropyWithLogits,
// the ops of Keras's categorical cross-entropy on probabilities (Sum, RealDiv, Minimum, Maximum,
// Log, Mul, Neg), DivNoNan, Square, Sub, Identity, Cast, SelectV2 and Squeeze.
//
// Some ops have no C++ gradient (TF_AddGradients cannot call Go code, so none can be added
// from here). Forward graphs that are trained must not put them between the variables and
// the loss; replacements lists each with what to build instead, and Add's error names the
// node and that replacement. The rules that matter for xray's graphs:
//   - no tf.cond-style training switch (Switch/Merge): select with SelectV2 on a bool input,
//     or build separate training and inference graphs;
//   - ConcatV2, not Concat; FusedBatchNormV3 or Keras's decomposition, not FusedBatchNorm(V2);
//   - dense one-hot labels with SoftmaxCrossEntropyWithLogits, not the sparse variant;
//   - read each trainable variable once (one ReadVariableOp) and pass that read as an x:
//     the gradient with respect to one read does not include the uses of another read.
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
// dependencies or device set (graft's limitation). On a TensorFlow error graft records it in
// s, which is then unusable; the returned error is the readable one.
func Add(s *op.Scope, ys, xs []tf.Output, opts ...Option) ([]tf.Output, error) {
	if s == nil {
		return nil, errors.New("gradients: nil scope: pass the scope the forward graph was built in")
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("gradients: the scope already holds an error, fix the forward graph first: %w", err)
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
	dxs, err = b.gradients(ys, xs, c.seeds)
	if err != nil {
		return nil, explain(err, ys, xs)
	}
	if len(dxs) != len(xs) {
		return nil, fmt.Errorf("gradients: TF_AddGradients returned %d gradients for %d xs", len(dxs), len(xs))
	}
	var unconnected []string
	for i, dx := range dxs {
		// TF_AddGradients marks an x with no gradient path as index -1 on a null op; using
		// that Output would crash in C, so it never leaves this function.
		if dx.Op != nil && dx.Index >= 0 {
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
			return fmt.Errorf("gradients: seeds[%d] %s is %v but ys[%d] %s is %v: cast the seed", i, describe(seeds[i]), st, i, describe(ys[i]), yt)
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
func explain(err error, ys, xs []tf.Output) error {
	m := noGradientRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("gradients: %w", err)
	}
	typ := m[1]
	nodes := nodesOnPaths(xs, ys, typ)
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

// nodesOnPaths lists the names of the ops of type typ that lie on a data path from an x to
// a y. graft exposes only forward edges (consumers), so it walks forward from xs and then
// keeps the nodes from which a y is reachable.
func nodesOnPaths(xs, ys []tf.Output, typ string) []string {
	types := map[string]string{}
	next := map[string][]string{}
	var stack []*tf.Operation
	for _, x := range xs {
		stack = append(stack, x.Op)
	}
	for len(stack) > 0 {
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		name := o.Name()
		if _, seen := types[name]; seen {
			continue
		}
		types[name] = o.Type()
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
	reaches := map[string]bool{}
	var queue []string
	for _, y := range ys {
		queue = append(queue, y.Op.Name())
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if reaches[n] {
			continue
		}
		reaches[n] = true
		queue = append(queue, prev[n]...)
	}
	var out []string
	for name, t := range types {
		if t == typ && reaches[name] {
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

// stripScopeNoise keeps TensorFlow's message from graft's scope error, which wraps it in
// `failed to add operation "Gradients": ... (Stacktrace: ...)`.
func stripScopeNoise(msg string) string {
	if i := strings.Index(msg, " (Stacktrace:"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimPrefix(msg, `failed to add operation "Gradients": `)
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
