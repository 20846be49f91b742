package step

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/gradients"
)

// Graph is the training step added to a model's graph: Keras's loss and accuracy, the
// gradients, and the optimizer as graph ops on the resource variables.
type Graph struct {
	Labels         tf.Output // float32 [-1, classes], one-hot
	optimizerGraph           // LR and Iteration, fed every step (Graph.Feeds)

	// Training mode: mean loss and number of correct argmax predictions of the batch.
	Loss    tf.Output
	Correct tf.Output
	Step    []*tf.Operation // optimizer updates and BN moving-statistics updates, run together

	// Inference mode, for validation (never class-weighted, as Keras's evaluate).
	EvalLoss    tf.Output
	EvalCorrect tf.Output

	Slots []*tfgraph.Variable // optimizer state: momentum, Adam's m and v (none for plain SGD)

	rep *replicaGraph // replicated training (replicas.go); nil on one device
}

// Options are the training step's fixed settings. The learning rate and the update
// number are fed per step, so schedules need no graph rebuild.
type Options struct {
	Optimizer      string    // OptimizerSGD, OptimizerAdam or OptimizerAdamW
	Momentum       float64   // SGD only
	WeightDecay    float64   // decoupled (Keras weight_decay); AdamW's default when 0
	ClassWeights   []float64 // per class, Keras class_weight; nil: unweighted
	LabelSmoothing float64   // Keras CategoricalCrossentropy(label_smoothing)
	FreezeBase     bool
	// ConstLR, when positive, makes the learning rate a graph constant instead of a feed:
	// a constant schedule then builds the very graph the paper's recipe always had
	// (TensorFlow's graph optimizer rounds a constant product differently from a fed one,
	// and a from-scratch run amplifies one ulp).
	ConstLR float64
	// LossScale adds Keras's dynamic loss scaling (mixed_float16; losscale.go).
	LossScale bool
}

// Build adds the training step to m.Graph (one device; BuildReplicated for replicas). Keras 3 computes categorical cross-entropy
// of a softmax output from its logits (softmax_cross_entropy_with_logits) on labels
// smoothed as y(1-ls) + ls/K for K classes, weighted per sample by its class weight and summed over
// the batch divided by the batch size; the optimizer then updates (optimizer.go). With
// FreezeBase only the head's variables are updated.
func Build(m *tfgraph.Model, o Options) (*Graph, error) {
	s := op.NewScopeWithGraph(m.Graph).SubScope("sgd")
	g := &Graph{}
	k := m.Logits.Shape().Size(1)
	g.Labels = op.Placeholder(s.SubScope("labels"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, k)))

	logits := m.TrainLogits
	if o.FreezeBase {
		// Keras 3 runs a non-trainable BatchNormalization in inference mode, so a frozen
		// base computes its features with moving statistics.
		if m.HeadTrainLogits == (tf.Output{}) {
			return nil, fmt.Errorf("freeze base: this model has no head-only training path")
		}
		logits = m.HeadTrainLogits
	}
	g.Loss, g.Correct = lossAndCorrect(s.SubScope("train"), g.Labels, logits, o.LabelSmoothing, o.ClassWeights, k)
	g.EvalLoss, g.EvalCorrect = lossAndCorrect(s.SubScope("eval"), g.Labels, m.Logits, o.LabelSmoothing, nil, k)

	vars, xs := trainableVars(m, o.FreezeBase)
	objective, ls := g.Loss, (*lossScale)(nil)
	if o.LossScale {
		ls = newLossScale(s)
		objective = ls.scaleLoss(s, g.Loss)
	}
	grads, err := gradients.Add(s.SubScope("gradients"), []tf.Output{objective}, xs)
	if err != nil {
		return nil, fmt.Errorf("training graph: %w", err)
	}
	// Updates wait for the loss, so every read of the step's forward pass sees the
	// pre-update weights.
	// The paper's graph is built op for op as it always was (names and order): TensorFlow's
	// graph optimizer and executor order sums by them, and a from-scratch run amplifies an
	// ulp. The feeds come after it.
	us := s.SubScope("update").WithControlDependencies(g.Loss.Op, g.Correct.Op)
	if o.ConstLR > 0 {
		g.LR = op.Const(us.SubScope("lr"), float32(o.ConstLR))
	} else {
		g.LR = op.Placeholder(s.SubScope("lr"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
		g.FeedLR = true
	}
	if o.Optimizer == OptimizerAdam || o.Optimizer == OptimizerAdamW {
		g.Iteration = op.Placeholder(s.SubScope("iteration"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
	}
	g.Step, g.Slots = applyGradients(us, s, o, g.optimizerGraph, ls, vars, grads)
	if o.FreezeBase {
		g.Step = append(g.Step, m.HeadBNUpdates...)
	} else {
		g.Step = append(g.Step, m.BNUpdates...)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("training graph: %w", tfgraph.CleanError(err))
	}
	return g, nil
}

// lossAndCorrect is Keras's compiled loss and accuracy of a batch. Class weights, when
// given, weight each sample's loss by the weight of its true class (Keras turns
// class_weight into sample_weight on the unsmoothed labels); accuracy stays unweighted,
// as Keras's compiled metrics (only weighted_metrics take sample weights).
func lossAndCorrect(s *op.Scope, labels, logits tf.Output, smoothing float64, classWeights []float64, classes int64) (loss, correct tf.Output) {
	target := labels
	if smoothing > 0 {
		target = op.Add(s.SubScope("smooth"), op.Mul(s.SubScope("keep"), labels, op.Const(s.SubScope("one_minus_ls"), float32(1-smoothing))),
			op.Const(s.SubScope("ls_over_k"), float32(smoothing)/float32(classes)))
	}
	xent, _ := op.SoftmaxCrossEntropyWithLogits(s.SubScope("xent"), logits, target)
	if classWeights != nil {
		cw := make([]float32, len(classWeights))
		for i, w := range classWeights {
			cw[i] = float32(w)
		}
		sw := op.Sum(s.SubScope("sample_weight"), op.Mul(s.SubScope("label_weight"), labels, op.Const(s.SubScope("class_weight"), cw)),
			op.Const(s.SubScope("sw_axis"), int32(1)))
		xent = op.Mul(s.SubScope("weighted"), xent, sw)
	}
	loss = op.Mean(s.SubScope("loss"), xent, op.Const(s.SubScope("batch_axis"), []int32{0}))
	pred := op.ArgMax(s.SubScope("pred"), logits, op.Const(s.SubScope("class_axis"), int32(1)))
	truth := op.ArgMax(s.SubScope("truth"), labels, op.Const(s.SubScope("class_axis_t"), int32(1)))
	hit := op.Cast(s.SubScope("hit"), op.Equal(s.SubScope("eq"), pred, truth), tf.Float)
	correct = op.Sum(s.SubScope("correct"), hit, op.Const(s.SubScope("hit_axis"), []int32{0}))
	return loss, correct
}

// trainableVars are the variables a step updates (the head alone with freezeBase)
// and their values, the xs of the gradients; Build and BuildReplicated share it.
func trainableVars(m *tfgraph.Model, freezeBase bool) ([]*tfgraph.Variable, []tf.Output) {
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
	return vars, xs
}
