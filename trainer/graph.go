package trainer

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/gradients"
)

// sgdGraph is the training step added to a model's graph: Keras's loss and accuracy, the
// gradients, and SGD as graph ops on the resource variables.
type sgdGraph struct {
	Labels tf.Output // float32 [-1, 2], one-hot

	// Training mode: mean loss and number of correct argmax predictions of the batch.
	Loss    tf.Output
	Correct tf.Output
	Step    []*tf.Operation // SGD updates and BN moving-statistics updates, run together

	// Inference mode, for validation.
	EvalLoss    tf.Output
	EvalCorrect tf.Output

	Slots []*tfgraph.Variable // momentum accumulators (none when momentum is 0)
}

// buildSGD adds the training step to m.Graph. Keras 3 computes categorical cross-entropy
// of a softmax output from its logits (softmax_cross_entropy_with_logits), averaged over
// the batch; SGD applies v -= lr*g, or with momentum m = momentum*m - lr*g; v += m.
// With freezeBase only the head's variables are updated.
func buildSGD(m *tfgraph.Model, lr, momentum float64, freezeBase bool) (*sgdGraph, error) {
	s := op.NewScopeWithGraph(m.Graph).SubScope("sgd")
	g := &sgdGraph{}
	g.Labels = op.Placeholder(s.SubScope("labels"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, 2)))

	lossAndCorrect := func(s *op.Scope, logits tf.Output) (tf.Output, tf.Output) {
		xent, _ := op.SoftmaxCrossEntropyWithLogits(s.SubScope("xent"), logits, g.Labels)
		loss := op.Mean(s.SubScope("loss"), xent, op.Const(s.SubScope("batch_axis"), []int32{0}))
		pred := op.ArgMax(s.SubScope("pred"), logits, op.Const(s.SubScope("class_axis"), int32(1)))
		truth := op.ArgMax(s.SubScope("truth"), g.Labels, op.Const(s.SubScope("class_axis_t"), int32(1)))
		hit := op.Cast(s.SubScope("hit"), op.Equal(s.SubScope("eq"), pred, truth), tf.Float)
		correct := op.Sum(s.SubScope("correct"), hit, op.Const(s.SubScope("hit_axis"), []int32{0}))
		return loss, correct
	}
	logits := m.TrainLogits
	if freezeBase {
		// Keras 3 runs a non-trainable BatchNormalization in inference mode, so a frozen
		// base computes its features with moving statistics.
		if m.HeadTrainLogits == (tf.Output{}) {
			return nil, fmt.Errorf("--freeze-base: this model has no head-only training path")
		}
		logits = m.HeadTrainLogits
	}
	g.Loss, g.Correct = lossAndCorrect(s.SubScope("train"), logits)
	g.EvalLoss, g.EvalCorrect = lossAndCorrect(s.SubScope("eval"), m.Logits)

	var vars []*tfgraph.Variable
	for _, v := range m.Trainable() {
		if !freezeBase || v.Head {
			vars = append(vars, v)
		}
	}
	xs := make([]tf.Output, len(vars))
	for i, v := range vars {
		xs[i] = v.Value
	}
	grads, err := gradients.Add(s.SubScope("gradients"), []tf.Output{g.Loss}, xs)
	if err != nil {
		return nil, fmt.Errorf("training graph: %w", err)
	}
	// Updates wait for the loss, so every read of the step's forward pass sees the
	// pre-update weights.
	us := s.SubScope("update").WithControlDependencies(g.Loss.Op, g.Correct.Op)
	lrT := op.Const(us.SubScope("lr"), float32(lr))
	for i, v := range vars {
		vs := us.SubScope(v.Layer).SubScope(v.Weight)
		step := op.Mul(vs.SubScope("lr_grad"), lrT, grads[i])
		if momentum == 0 {
			g.Step = append(g.Step, op.AssignSubVariableOp(vs, v.Handle, step))
			continue
		}
		slot := tfgraph.NewVariable(s.SubScope("slots"), "sgd/momentum/"+v.Layer, v.Weight, v.Shape, false,
			func(s *op.Scope) tf.Output {
				return op.Fill(s, op.Const(s.SubScope("shape"), v.Shape), op.Const(s.SubScope("zero"), float32(0)))
			})
		g.Slots = append(g.Slots, slot)
		mom := op.Const(vs.SubScope("momentum"), float32(momentum))
		newM := op.Sub(vs.SubScope("new_m"), op.Mul(vs.SubScope("decay"), slot.Value, mom), step)
		assignM := op.AssignVariableOp(vs.SubScope("assign_m"), slot.Handle, newM)
		g.Step = append(g.Step, assignM,
			op.AssignAddVariableOp(vs.SubScope("apply").WithControlDependencies(assignM), v.Handle, newM))
	}
	if freezeBase {
		g.Step = append(g.Step, m.HeadBNUpdates...)
	} else {
		g.Step = append(g.Step, m.BNUpdates...)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("training graph: %w", tfgraph.CleanError(err))
	}
	return g, nil
}
