package tfgraph

import (
	"fmt"
	"maps"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// In-graph data parallelism. BuildReplicated adds to the model, beside its own passes,
// one copy of the passes per device (ops "replica_<i>/...", placed on that device), all
// reading the model's one set of variables. BatchNormalization's moving statistics are
// kept per replica, as Keras 3 keeps them under tf.distribute.MirroredStrategy: Keras
// creates them with aggregation "none", so a replica's assign writes only its own copy,
// from its own share of the batch, and what is read, saved and exported is replica 0's
// copy. Here replica 0 updates the model's moving statistics and every other replica its
// own copies (Replica.Stats), which SyncStats sets from the model's; run it whenever the
// model's variables were set (initialised, loaded, restored), as restoring a Keras
// MirroredVariable writes every copy.

// Replica is one copy of the model's passes on one device.
type Replica struct {
	Device string    // where its ops run, e.g. "/device:CPU:1" or "/job:worker/task:1/device:GPU:0"
	Input  tf.Output // its share of the batch, float32 [-1, InputSize, InputSize, 3]

	// Inference mode on this replica's moving statistics.
	Logits tf.Output
	Probs  tf.Output

	// Training mode (batch statistics) and its moving-statistics updates, as Model's.
	TrainLogits tf.Output
	BNUpdates   []*tf.Operation

	// Head-only training mode (a frozen base), as Model's.
	HeadTrainLogits tf.Output
	HeadBNUpdates   []*tf.Operation

	// Stats are this replica's own moving statistics (none for replica 0, which uses the
	// model's); SyncStats assigns them the model's values.
	Stats     []*Variable
	SyncStats []*tf.Operation

	index int
	stats map[string]*Variable // model's variable name -> this replica's copy
}

// BuildReplicated builds the model as Build does, plus one Replica per device, in order
// (replica 0's moving statistics are the model's); with no devices it is Build.
func BuildReplicated(cfg Config, devices []string) (*Model, error) { return build(cfg, devices) }

// replicate builds one Replica per device after the model's own passes.
func (b *builder) replicate(m *Model, bb backbone, devices []string) []*Replica {
	var reps []*Replica
	side := int64(m.Config.InputSize)
	for i, dev := range devices {
		r := &Replica{Device: dev, index: i}
		if i > 0 {
			r.stats = map[string]*Variable{}
		}
		b.replica = r
		scope := b.root.SubScope(fmt.Sprintf("replica_%d", i)).WithDevice(dev)
		r.Input = op.Placeholder(scope.SubScope("input_layer"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, side, side, 3)))
		b.producer[r.Input] = "input_layer"

		b.startReplicaPass(scope, false)
		features := bb.build(b, r.Input)
		headUIDs := maps.Clone(b.uids)
		r.Logits, r.Probs = buildHead(b, features, m.Config.Pool, m.Config.Classes)

		b.startReplicaPass(scope.SubScope("train"), true)
		r.TrainLogits, _ = buildHead(b, bb.build(b, r.Input), m.Config.Pool, m.Config.Classes)
		r.BNUpdates, b.updates = b.updates, nil

		b.startReplicaPass(scope.SubScope("train_head"), true)
		b.uids = headUIDs
		r.HeadTrainLogits, _ = buildHead(b, features, m.Config.Pool, m.Config.Classes)
		r.HeadBNUpdates, b.updates = b.updates, nil
		reps = append(reps, r)
	}
	b.replica = nil
	return reps
}

// startReplicaPass is startPass for a replica's pass under scope.
func (b *builder) startReplicaPass(scope *op.Scope, training bool) {
	b.training = training
	b.uids = map[string]int{}
	b.inHead = false
	b.pass = scope
}

// finding reports whether the pass being built finds the variables the model's inference
// pass created (a training pass or a replica's pass) instead of creating them.
func (b *builder) finding() bool { return b.training || b.replica != nil }

// stat returns the moving statistic a BatchNormalization layer of this pass reads and
// updates: the model's, or in the pass of a replica other than 0 that replica's copy,
// created on first use on the replica's device.
func (l *layerCtx) stat(weight string) *Variable {
	v := l.variable(weight)
	r := l.b.replica
	if r == nil || r.stats == nil {
		return v
	}
	if c, ok := r.stats[v.Name]; ok {
		return c
	}
	// Its own shared name: a copy must never alias the model's variable.
	c := newVariable(l.s, fmt.Sprintf("replica_%d/%s", r.index, l.name), weight, v.Shape, false,
		func(s *op.Scope) tf.Output { return op.Identity(s, v.Value) })
	r.stats[v.Name] = c
	r.Stats = append(r.Stats, c)
	r.SyncStats = append(r.SyncStats, c.Initial)
	return c
}
