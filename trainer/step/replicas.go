package step

import (
	"fmt"
	"slices"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/tfdist"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/gradients"
)

// Synchronous data parallelism, in-graph (trainer.Config.Devices): one replica of the model per
// device (tfgraph.BuildReplicated), the global batch split over them as tf.distribute
// splits it (the first n mod k replicas get one image more), each replica's loss weighted
// by its share of the batch, the gradients summed (so averaged), and one optimizer update
// of the one set of variables. Keras 3 under MirroredStrategy scales each replica's loss
// by 1/k and sums the gradients: the same for every batch that splits evenly.

// replicaGraph is the per-replica part of a replicated training step.
type replicaGraph struct {
	reps    []*tfgraph.Replica
	labels  []tf.Output       // one-hot labels of each replica's share
	weight  []tf.Output       // float32 scalar: each replica's share of the batch
	updates [][]*tf.Operation // each replica's BatchNormalization updates
	probs   []tf.Output       // inference probabilities of each replica's share
}

// Shares splits n images over k replicas as tf.distribute does.
func Shares(n, k int) []int {
	s := make([]int, k)
	for i := range s {
		s[i] = n / k
		if i < n%k {
			s[i]++
		}
	}
	return s
}

// BuildReplicated is Build over m's replicas: each replica's loss and gradients on
// its device, the gradients weighted by the replica's share and summed, then the same
// optimizer update as one device's.
func BuildReplicated(m *tfgraph.Model, o Options) (*Graph, error) {
	s := op.NewScopeWithGraph(m.Graph).SubScope("sgd")
	g := &Graph{}
	rg := &replicaGraph{reps: m.Replicas}
	vars, xs := trainableVars(m, o.FreezeBase)
	sums := make([][]tf.Output, len(vars))
	var losses, corrects, evalLosses, evalCorrects []tf.Output
	for i, r := range m.Replicas {
		rs := s.SubScope(fmt.Sprintf("replica_%d", i)).WithDevice(r.Device)
		k := r.Logits.Shape().Size(1)
		labels := op.Placeholder(rs.SubScope("labels"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, k)))
		w := op.Placeholder(rs.SubScope("share"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
		logits, updates := r.TrainLogits, r.BNUpdates
		if o.FreezeBase {
			logits, updates = r.HeadTrainLogits, r.HeadBNUpdates
		}
		loss, correct := lossAndCorrect(rs.SubScope("train"), labels, logits, o.LabelSmoothing, o.ClassWeights, k)
		weighted := op.Mul(rs.SubScope("weighted_loss"), loss, w)
		el, ec := lossAndCorrect(rs.SubScope("eval"), labels, r.Logits, o.LabelSmoothing, nil, k)
		losses, corrects = append(losses, weighted), append(corrects, correct)
		evalLosses, evalCorrects = append(evalLosses, op.Mul(rs.SubScope("weighted_eval_loss"), el, w)), append(evalCorrects, ec)
		grads, err := placedGradients(m.Graph, rs.SubScope("gradients").WithDevice(""), r.Device, weighted, xs)
		if err != nil {
			return nil, err
		}
		for j, gr := range grads {
			sums[j] = append(sums[j], gr)
		}
		rg.labels, rg.weight, rg.updates = append(rg.labels, labels), append(rg.weight, w), append(rg.updates, updates)
		rg.probs = append(rg.probs, r.Probs)
	}
	g.Loss, g.Correct = op.AddN(s.SubScope("loss"), losses), op.AddN(s.SubScope("correct"), corrects)
	g.EvalLoss, g.EvalCorrect = op.AddN(s.SubScope("eval_loss"), evalLosses), op.AddN(s.SubScope("eval_correct"), evalCorrects)
	grads := make([]tf.Output, len(vars))
	for j := range vars {
		grads[j] = op.AddN(s.SubScope("sum_gradients"), sums[j])
	}
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
	g.Step, g.Slots = addUpdates(us, s, o, g.optimizerGraph, vars, grads)
	g.rep = rg
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("replicated training graph: %w", tfgraph.CleanError(err))
	}
	return g, nil
}

// placedGradients adds d(loss)/d(xs) under s and places the new ops on device:
// TF_AddGradients builds them without a device, and TensorFlow's placer would put a
// device-less op on the first device, running every replica's backward pass there.
func placedGradients(g *tf.Graph, s *op.Scope, device string, loss tf.Output, xs []tf.Output) ([]tf.Output, error) {
	before := map[string]bool{}
	for _, o := range g.Operations() {
		before[o.Name()] = true
	}
	grads, err := gradients.Add(s, []tf.Output{loss}, xs)
	if err != nil {
		return nil, fmt.Errorf("training graph: %w", err)
	}
	for _, o := range g.Operations() {
		if !before[o.Name()] && o.Device() == "" {
			tfdist.SetDevice(g, &o, device)
		}
	}
	return grads, nil
}

// feedBatch adds a training batch to feeds (split over the replicas when there are
// some) and returns the ops the step runs.
func (g *Graph) feedBatch(feeds map[tf.Output]*tf.Tensor, m *tfgraph.Model, b Batch, size int) ([]*tf.Operation, error) {
	if g.rep == nil {
		img, lab, err := batchTensors(b, size)
		if err != nil {
			return nil, err
		}
		feeds[m.Input], feeds[g.Labels] = img, lab
		return g.Step, nil
	}
	active, err := g.rep.feed(feeds, b, size)
	if err != nil {
		return nil, err
	}
	targets := slices.Clone(g.Step)
	for i, ok := range active {
		if ok {
			targets = append(targets, g.rep.updates[i]...)
		}
	}
	return targets, nil
}

// feed splits b over the replicas. A replica left without an image (a last batch smaller
// than the replica count) computes on a copy of the batch's first image with weight 0,
// and its moving statistics are left alone (active false).
func (rg *replicaGraph) feed(feeds map[tf.Output]*tf.Tensor, b Batch, size int) (active []bool, err error) {
	n, per := b.Len(), size*size*3
	start := 0
	for i, k := range Shares(n, len(rg.reps)) {
		lo, hi := start, start+k
		start = hi
		if k == 0 {
			lo, hi = 0, 1
		}
		img, err := Tensor(b.Images[lo*per:hi*per], []int64{int64(hi - lo), int64(size), int64(size), 3})
		if err != nil {
			return nil, err
		}
		c := len(b.OneHot) / n // classes
		lab, err := Tensor(b.OneHot[lo*c:hi*c], []int64{int64(hi - lo), int64(c)})
		if err != nil {
			return nil, err
		}
		w, err := tf.NewTensor(float32(k) / float32(n))
		if err != nil {
			return nil, err
		}
		feeds[rg.reps[i].Input], feeds[rg.labels[i]], feeds[rg.weight[i]] = img, lab, w
		active = append(active, k > 0)
	}
	return active, nil
}

// EvalBatch runs inference on a validation batch: its mean loss, correct predictions
// and p(class) per image (row-major [n, 2]). Replicas each take their share, on their
// own moving statistics, as Keras's evaluate does under MirroredStrategy.
func (g *Graph) EvalBatch(sess *tf.Session, m *tfgraph.Model, b Batch, size int) (loss, correct float32, probs []float32, err error) {
	feeds := map[tf.Output]*tf.Tensor{}
	fetches := []tf.Output{g.EvalLoss, g.EvalCorrect}
	var active []bool
	if g.rep == nil {
		img, lab, err := batchTensors(b, size)
		if err != nil {
			return 0, 0, nil, err
		}
		feeds[m.Input], feeds[g.Labels] = img, lab
		fetches = append(fetches, m.Probs)
	} else {
		if active, err = g.rep.feed(feeds, b, size); err != nil {
			return 0, 0, nil, err
		}
		fetches = append(fetches, g.rep.probs...)
	}
	out, err := sess.Run(feeds, fetches, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	for i, t := range out[2:] {
		if active != nil && !active[i] {
			continue
		}
		p, err := tfgraph.Floats(t)
		if err != nil {
			return 0, 0, nil, err
		}
		probs = append(probs, p...)
	}
	return out[0].Value().(float32), out[1].Value().(float32), probs, nil
}

// SyncReplicaStats copies the model's moving statistics to every replica's own, after
// the variables were initialised, loaded or restored.
func SyncReplicaStats(sess *tf.Session, m *tfgraph.Model) error {
	var ops []*tf.Operation
	for _, r := range m.Replicas {
		ops = append(ops, r.SyncStats...)
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := sess.Run(nil, nil, ops); err != nil {
		return fmt.Errorf("copy the moving statistics to the replicas: %w", err)
	}
	return nil
}
