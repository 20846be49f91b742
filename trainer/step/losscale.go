package step

import (
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph"
)

// Dynamic loss scaling, as keras.optimizers.LossScaleOptimizer (which Keras 3's compile
// wraps around the optimizer under mixed_float16): the loss is multiplied by a scale
// before differentiation so small float16 gradients do not flush to zero; the
// gradients are divided by it again. A step whose gradients are all finite is applied,
// and after growthSteps of those in a row the scale doubles; a step with an inf or NaN
// gradient is skipped (no weight or slot changes; BatchNormalization's moving
// statistics, updated in the forward pass, still move, as in Keras) and halves the scale.
const (
	initialLossScale = 1 << 15 // LossScaleOptimizer's initial_scale
	lossScaleGrowth  = 2000    // its dynamic_growth_steps
)

// lossScale is the graph of dynamic loss scaling.
type lossScale struct {
	scale   *tfgraph.Variable // dynamic_scale, float32
	counter *tfgraph.Variable // step_counter: finite steps since the last change (float32, exact below 2^24)
	finite  tf.Output         // bool: every gradient of this step is finite
	update  []*tf.Operation   // assign the next scale and counter
}

// newLossScale creates the scale's variables under parent (checkpoints carry them as
// slots, so a resumed run keeps its scale).
func newLossScale(parent *op.Scope) *lossScale {
	s := parent.SubScope("slots")
	fill := func(v float32) func(s *op.Scope) tf.Output {
		return func(s *op.Scope) tf.Output { return op.Const(s, v) }
	}
	return &lossScale{
		scale:   tfgraph.NewVariable(s, "loss_scale", "dynamic_scale", []int64{}, false, fill(initialLossScale)),
		counter: tfgraph.NewVariable(s, "loss_scale", "step_counter", []int64{}, false, fill(0)),
	}
}

// scaleLoss is LossScaleOptimizer.scale_loss.
func (ls *lossScale) scaleLoss(s *op.Scope, loss tf.Output) tf.Output {
	return op.Mul(s.SubScope("scaled_loss"), loss, ls.scale.Value)
}

// gate unscales grads and routes them and the learning rate through a Switch on their
// finiteness: on a non-finite step every update op built on them is dead (never runs),
// Keras's skipped apply. It also builds the scale's own update.
func (ls *lossScale) gate(s *op.Scope, grads []tf.Output, lr tf.Output) ([]tf.Output, tf.Output) {
	s = s.SubScope("loss_scale")
	oks := make([]tf.Output, len(grads))
	for i, g := range grads {
		gs := s.SubScope("check")
		oks[i] = op.All(gs, op.IsFinite(gs, g), allAxes(gs, g))
	}
	ls.finite = op.All(s.SubScope("finite"), op.Pack(s.SubScope("oks"), oks), op.Const(s.SubScope("axis"), []int32{0}))
	out := make([]tf.Output, len(grads))
	for i, g := range grads {
		gs := s.SubScope("unscale")
		_, out[i] = op.Switch(gs, op.Div(gs, g, ls.scale.Value), ls.finite)
	}
	_, lr = op.Switch(s.SubScope("gate_lr"), lr, ls.finite)

	c := func(name string, v float32) tf.Output { return op.Const(s.SubScope(name), v) }
	grow := op.Equal(s.SubScope("grow"), ls.counter.Value, c("growth_minus_one", lossScaleGrowth-1))
	sel := op.Select // scalars: Select is SelectV2
	counter := sel(s.SubScope("next_counter"), ls.finite,
		sel(s.SubScope("grow_counter"), grow, c("zero", 0), op.AddV2(s.SubScope("count"), ls.counter.Value, c("one", 1))), c("reset", 0))
	scale := sel(s.SubScope("next_scale"), ls.finite,
		sel(s.SubScope("grow_scale"), grow, op.Mul(s.SubScope("double"), ls.scale.Value, c("two", 2)), ls.scale.Value),
		op.Div(s.SubScope("halve"), ls.scale.Value, c("two", 2)))
	ls.update = []*tf.Operation{
		op.AssignVariableOp(s.SubScope("assign_counter"), ls.counter.Handle, counter),
		op.AssignVariableOp(s.SubScope("assign_scale"), ls.scale.Handle, scale),
	}
	return out, lr
}

// allAxes is every axis of x, for a full reduction.
func allAxes(s *op.Scope, x tf.Output) tf.Output {
	return op.Range(s.SubScope("axes"), op.Const(s.SubScope("start"), int32(0)), op.Rank(s.SubScope("rank"), x), op.Const(s.SubScope("delta"), int32(1)))
}

// applyGradients is addUpdates, behind loss scaling's gate when ls is not nil; the
// scale's own update and variables join the step and the slots.
func applyGradients(s, parent *op.Scope, o Options, og optimizerGraph, ls *lossScale, vars []*tfgraph.Variable, grads []tf.Output) ([]*tf.Operation, []*tfgraph.Variable) {
	if ls == nil {
		return addUpdates(s, parent, o, og, vars, grads)
	}
	grads, og.LR = ls.gate(s, grads, og.LR)
	steps, slots := addUpdates(s, parent, o, og, vars, grads)
	return append(steps, ls.update...), append(slots, ls.scale, ls.counter)
}

// WithoutLossScale drops a checkpoint's loss-scale state when the graph has none (a
// mixed_float16 run resumed under another policy: the scale means nothing there).
func WithoutLossScale(tensors map[string]*tf.Tensor, vars []*tfgraph.Variable) map[string]*tf.Tensor {
	for _, v := range vars {
		if v.Layer == "loss_scale" {
			return tensors
		}
	}
	out := make(map[string]*tf.Tensor, len(tensors))
	for k, t := range tensors {
		if !strings.HasPrefix(k, "loss_scale/") {
			out[k] = t
		}
	}
	return out
}
