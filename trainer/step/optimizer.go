package step

import (
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph"
)

// Optimizers (Options.Optimizer), each as Keras 3 defines it.
const (
	OptimizerSGD   = "sgd"   // keras.optimizers.SGD(lr, momentum): the paper's
	OptimizerAdam  = "adam"  // keras.optimizers.Adam(lr): beta_1 0.9, beta_2 0.999, epsilon 1e-7
	OptimizerAdamW = "adamw" // keras.optimizers.AdamW(lr, weight_decay): Adam with decoupled weight decay
)

// Keras 3's Adam and AdamW defaults.
const (
	adamBeta1   = 0.9
	adamBeta2   = 0.999
	adamEpsilon = 1e-7
	// AdamWDecay is AdamW's default weight decay, used when Options.WeightDecay is 0.
	AdamWDecay = 0.004
)

// optimizerGraph holds what the updates are fed each step.
type optimizerGraph struct {
	LR        tf.Output // float32 scalar: this step's learning rate (schedules change it per step)
	FeedLR    bool      // LR is a placeholder to feed (else a constant: Options.ConstLR)
	Iteration tf.Output // float32 scalar: 1-based number of this update (Adam's bias correction); unset for SGD
}

// weightDecay is the decoupled decay the optimizer applies: Options.WeightDecay, or
// AdamW's Keras default when that is 0.
func weightDecay(optimizer string, wd float64) float64 {
	if optimizer == OptimizerAdamW && wd == 0 {
		return AdamWDecay
	}
	return wd
}

// addUpdates adds one optimizer step for vars given their gradients, after Keras 3's
// BaseOptimizer.apply: first the decoupled weight decay v -= v*wd*lr (when wd > 0), then
// the optimizer's update_step. It returns the update ops and the slot variables
// (momentum; Adam's m and v), which checkpoints carry.
// Slots are created under parent.SubScope("slots"), which must carry no control
// dependencies (their initialisers run before any step).
func addUpdates(s, parent *op.Scope, o Options, og optimizerGraph, vars []*tfgraph.Variable, grads []tf.Output) ([]*tf.Operation, []*tfgraph.Variable) {
	var steps []*tf.Operation
	var slots []*tfgraph.Variable
	wd := weightDecay(o.Optimizer, o.WeightDecay)
	slot := func(prefix string, v *tfgraph.Variable) *tfgraph.Variable {
		sv := tfgraph.NewVariable(parent.SubScope("slots"), prefix+v.Layer, v.Weight, v.Shape, false,
			func(s *op.Scope) tf.Output {
				return op.Fill(s, op.Const(s.SubScope("shape"), v.Shape), op.Const(s.SubScope("zero"), float32(0)))
			})
		slots = append(slots, sv)
		return sv
	}
	var adam adamTerms
	if o.Optimizer == OptimizerAdam || o.Optimizer == OptimizerAdamW {
		adam = newAdamTerms(s.SubScope("adam"), og)
	}
	for i, v := range vars {
		vs := s.SubScope(v.Layer).SubScope(v.Weight)
		after := vs
		if wd > 0 {
			// Keras: variable.assign_sub(variable * wd * lr), on the value before the step.
			decay := op.Mul(vs.SubScope("weight_decay"), op.Mul(vs.SubScope("wd"), v.Value, op.Const(vs.SubScope("wd_c"), float32(wd))), og.LR)
			d := op.AssignSubVariableOp(vs.SubScope("apply_decay"), v.Handle, decay)
			steps = append(steps, d)
			after = vs.WithControlDependencies(d)
		}
		switch o.Optimizer {
		case OptimizerAdam, OptimizerAdamW:
			steps = append(steps, adam.update(after, v, grads[i], slot("adam/m/", v), slot("adam/v/", v))...)
		default:
			step := op.Mul(vs.SubScope("lr_grad"), og.LR, grads[i])
			if o.Momentum == 0 {
				steps = append(steps, op.AssignSubVariableOp(after, v.Handle, step))
				continue
			}
			// Keras: m = momentum*m - lr*g; v += m.
			m := slot("sgd/momentum/", v)
			mom := op.Const(vs.SubScope("momentum"), float32(o.Momentum))
			newM := op.Sub(vs.SubScope("new_m"), op.Mul(vs.SubScope("decay"), m.Value, mom), step)
			assignM := op.AssignVariableOp(vs.SubScope("assign_m"), m.Handle, newM)
			steps = append(steps, assignM,
				op.AssignAddVariableOp(after.SubScope("apply").WithControlDependencies(assignM), v.Handle, newM))
		}
	}
	return steps, slots
}

// adamTerms are the per-step scalars every Adam update shares.
type adamTerms struct {
	alpha      tf.Output // lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
	oneMinusB1 tf.Output
	oneMinusB2 tf.Output
	epsilon    tf.Output
}

func newAdamTerms(s *op.Scope, og optimizerGraph) adamTerms {
	c := func(name string, x float64) tf.Output { return op.Const(s.SubScope(name), float32(x)) }
	one := c("one", 1)
	b1p := op.Pow(s.SubScope("beta_1_power"), c("beta_1", adamBeta1), og.Iteration)
	b2p := op.Pow(s.SubScope("beta_2_power"), c("beta_2", adamBeta2), og.Iteration)
	alpha := op.Div(s.SubScope("alpha"),
		op.Mul(s.SubScope("lr_sqrt"), og.LR, op.Sqrt(s.SubScope("sqrt"), op.Sub(s.SubScope("one_b2p"), one, b2p))),
		op.Sub(s.SubScope("one_b1p"), one, b1p))
	return adamTerms{alpha: alpha, oneMinusB1: c("one_minus_beta_1", 1-adamBeta1),
		oneMinusB2: c("one_minus_beta_2", 1-adamBeta2), epsilon: c("epsilon", adamEpsilon)}
}

// update is Keras 3's Adam.update_step: m += (g - m)(1 - beta_1); v += (g² - v)(1 - beta_2);
// variable -= m*alpha / (sqrt(v) + epsilon). s carries the weight decay's control
// dependency, so the subtraction sees the decayed weight.
func (a adamTerms) update(s *op.Scope, v *tfgraph.Variable, g tf.Output, m, vel *tfgraph.Variable) []*tf.Operation {
	newM := op.Add(s.SubScope("new_m"), m.Value, op.Mul(s.SubScope("dm"), op.Sub(s.SubScope("g_m"), g, m.Value), a.oneMinusB1))
	newV := op.Add(s.SubScope("new_v"), vel.Value, op.Mul(s.SubScope("dv"), op.Sub(s.SubScope("g2_v"), op.Square(s.SubScope("g2"), g), vel.Value), a.oneMinusB2))
	am := op.AssignVariableOp(s.SubScope("assign_m"), m.Handle, newM)
	av := op.AssignVariableOp(s.SubScope("assign_v"), vel.Handle, newV)
	delta := op.Div(s.SubScope("delta"), op.Mul(s.SubScope("m_alpha"), newM, a.alpha),
		op.Add(s.SubScope("denom"), op.Sqrt(s.SubScope("sqrt_v"), newV), a.epsilon))
	return []*tf.Operation{am, av, op.AssignSubVariableOp(s.SubScope("apply"), v.Handle, delta)}
}
