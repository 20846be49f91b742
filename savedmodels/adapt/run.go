package adapt

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"strconv"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/tflog"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

// adaptSession is the SavedModel's graph with, per BatchNormalization layer, ops that
// measure its input's per-channel mean and variance in float64 and ops that assign its
// moving statistics, live in a session holding the SavedModel's variables.
type adaptSession struct {
	graph  *tf.Graph
	sess   *tf.Session
	input  tf.Output // serving_default's image, fed preprocessed pixels
	layers []adaptOps
	saver  *pb.SaverDef
}

// adaptOps are one layer's statistics (of one batch) and assignment.
type adaptOps struct {
	mean, variance, shape tf.Output // float64 [C], float64 [C], int64 [2]: [values per channel, C]
	feedMean, feedVar     tf.Output
	assign                []*tf.Operation
}

const adaptScope = "xray_adapt"

// newAdaptSession builds the graph and restores the variables from src's checkpoint.
// With batch, every layer reads its batch statistics in place of the moving ones.
func newAdaptSession(src string, mg *pb.MetaGraphDef, layers []*bnLayer, batch bool, config []byte) (*adaptSession, error) {
	g := tf.NewGraph()
	b, err := proto.Marshal(mg.GetGraphDef())
	if err != nil {
		return nil, err
	}
	if err := g.Import(b, ""); err != nil {
		return nil, fmt.Errorf("import the SavedModel graph: %w", err)
	}
	scope := tfgraph.FreeName(g, adaptScope)
	names := make([][]string, len(layers))
	for i, l := range layers {
		if names[i], err = addLayerOps(op.NewScopeWithGraph(g).SubScope(scope).SubScope(strconv.Itoa(i)), g, l); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.name, tfgraph.CleanError(err))
		}
	}
	if batch {
		if g, err = batchStatistics(g, layers, names); err != nil {
			return nil, err
		}
	}
	a := &adaptSession{graph: g, saver: mg.GetSaverDef()}
	if a.input, err = smgraph.TensorByName(g, mg.SignatureDef[savedmodels.SignatureDefault].Inputs[savedmodels.InputImage].GetName()); err != nil {
		return nil, err
	}
	for _, n := range names {
		var o adaptOps
		outs := []*tf.Output{&o.mean, &o.variance, &o.shape, &o.feedMean, &o.feedVar}
		for k, dst := range outs {
			if *dst, err = smgraph.TensorByName(g, n[k]); err != nil {
				return nil, err
			}
		}
		o.assign = []*tf.Operation{g.Operation(n[5]), g.Operation(n[6])}
		a.layers = append(a.layers, o)
	}
	tflog.Once(config) // as Load does: a library user sees no TensorFlow start-up lines
	if a.sess, err = tf.NewSession(g, &tf.SessionOptions{Config: config}); err != nil {
		return nil, err
	}
	if err := a.restore(filepath.Join(src, "variables", "variables")); err != nil {
		a.sess.Close()
		return nil, err
	}
	return a, nil
}

// addLayerOps adds l's statistics and assignment ops and returns their names: mean,
// variance, shape, the two feeds, the two assigns, the float32 batch mean and variance.
func addLayerOps(s *op.Scope, g *tf.Graph, l *bnLayer) ([]string, error) {
	x, err := smgraph.TensorByName(g, l.x)
	if err != nil {
		return nil, err
	}
	flat := op.Reshape(s.SubScope("flat"), x, op.Const(s.SubScope("flat_shape"), []int64{-1, l.channels}))
	x64 := op.Cast(s.SubScope("float64"), flat, tf.Double)
	axis := op.Const(s.SubScope("axis"), []int32{0})
	mean := op.Mean(s.SubScope("mean"), x64, axis)
	variance := op.Mean(s.SubScope("variance"), op.Square(s.SubScope("square"), op.Sub(s.SubScope("centred"), x64, mean)), axis)
	shape := op.Shape(s.SubScope("shape"), flat, op.ShapeOutType(tf.Int64))
	// The batch statistics in float32, for Batch's rewiring.
	batchMean := op.Cast(s.SubScope("batch_mean"), mean, tf.Float)
	batchVar := op.Cast(s.SubScope("batch_variance"), variance, tf.Float)
	feedMean := op.Placeholder(s.SubScope("feed_mean"), tf.Float, op.PlaceholderShape(tf.MakeShape(l.channels)))
	feedVar := op.Placeholder(s.SubScope("feed_variance"), tf.Float, op.PlaceholderShape(tf.MakeShape(l.channels)))
	handle := func(name string) tf.Output {
		if o := g.Operation(name); o != nil {
			return o.Output(0)
		}
		s.UpdateErr("handle", fmt.Errorf("no variable %s", name))
		return tf.Output{}
	}
	am := op.AssignVariableOp(s.SubScope("assign_mean"), handle(l.meanVar), feedMean)
	av := op.AssignVariableOp(s.SubScope("assign_variance"), handle(l.varVar), feedVar)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return []string{smgraph.TensorName(mean), smgraph.TensorName(variance), smgraph.TensorName(shape), smgraph.TensorName(feedMean), smgraph.TensorName(feedVar), am.Name(), av.Name(), smgraph.TensorName(batchMean), smgraph.TensorName(batchVar)}, nil
}

// batchStatistics returns g re-imported with each layer's Mul(mean, inv) and
// AddV2(variance, eps) reading the layer's batch statistics: BatchNormalization in
// training mode, the rest of the graph unchanged.
func batchStatistics(g *tf.Graph, layers []*bnLayer, names [][]string) (*tf.Graph, error) {
	def, err := smgraph.GraphDef(g)
	if err != nil {
		return nil, err
	}
	idx := indexGraph(def)
	for i, l := range layers {
		for _, r := range []struct{ node, read, batch string }{
			{l.mulMean, l.meanRead, names[i][7]},
			{l.addEps, l.varRead, names[i][8]},
		} {
			n := idx.nodes[r.node]
			if n == nil || idx.nodes[smgraph.NodeName(r.batch)] == nil {
				return nil, fmt.Errorf("layer %s: ops %s, %s missing", l.name, r.node, r.batch)
			}
			for k, in := range n.Input {
				if canonical(in) == canonical(r.read) {
					n.Input[k] = r.batch
				}
			}
		}
	}
	b, err := proto.Marshal(def)
	if err != nil {
		return nil, err
	}
	out := tf.NewGraph()
	if err := out.Import(b, ""); err != nil {
		return nil, fmt.Errorf("import the batch-statistics graph: %w", err)
	}
	return out, nil
}

// restore runs the SavedModel's saver restore from the checkpoint prefix.
func (a *adaptSession) restore(prefix string) error {
	fn, err := smgraph.TensorByName(a.graph, a.saver.FilenameTensorName)
	if err != nil {
		return err
	}
	restore := a.graph.Operation(a.saver.RestoreOpName)
	if restore == nil {
		return fmt.Errorf("no restore op %s", a.saver.RestoreOpName)
	}
	t, err := tf.NewTensor(prefix)
	if err != nil {
		return err
	}
	if _, err := a.sess.Run(map[tf.Output]*tf.Tensor{fn: t}, nil, []*tf.Operation{restore}); err != nil {
		return fmt.Errorf("restore the variables: %s", smgraph.OneLine(err.Error()))
	}
	return nil
}

// save writes every variable through the SavedModel's saver to the checkpoint prefix.
func (a *adaptSession) save(prefix string) error {
	fn, err := smgraph.TensorByName(a.graph, a.saver.FilenameTensorName)
	if err != nil {
		return err
	}
	save, err := smgraph.TensorByName(a.graph, a.saver.SaveTensorName)
	if err != nil {
		return err
	}
	t, err := tf.NewTensor(prefix)
	if err != nil {
		return err
	}
	if _, err := a.sess.Run(map[tf.Output]*tf.Tensor{fn: t}, []tf.Output{save}, nil); err != nil {
		return fmt.Errorf("save the variables: %s", smgraph.OneLine(err.Error()))
	}
	return nil
}

// measure runs the images through the network once and returns the population
// statistics of the given layers' inputs.
func (a *adaptSession) measure(ctx context.Context, batches iter.Seq2[[]float32, error], size int, which []int, progress func(images int)) ([]*moments, error) {
	fetch := make([]tf.Output, 0, 3*len(which))
	for _, i := range which {
		fetch = append(fetch, a.layers[i].mean, a.layers[i].variance, a.layers[i].shape)
	}
	acc := make([]*moments, len(which))
	for i := range acc {
		acc[i] = new(moments)
	}
	per := size * size * 3
	for pix, err := range batches {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, err := tf.NewTensor(pix)
		if err == nil {
			err = x.Reshape([]int64{int64(len(pix) / per), int64(size), int64(size), 3})
		}
		if err != nil {
			return nil, err
		}
		out, err := a.sess.Run(map[tf.Output]*tf.Tensor{a.input: x}, fetch, nil)
		if err != nil {
			return nil, fmt.Errorf("statistics: %s", smgraph.OneLine(err.Error()))
		}
		for k := range which {
			shape := out[3*k+2].Value().([]int64)
			acc[k].add(float64(shape[0]), out[3*k].Value().([]float64), out[3*k+1].Value().([]float64))
		}
		progress(len(pix) / per)
	}
	return acc, nil
}

// assign sets the moving statistics of the given layers.
func (a *adaptSession) assign(which []int, stats []*moments) error {
	feeds := map[tf.Output]*tf.Tensor{}
	var ops []*tf.Operation
	for k, i := range which {
		mean, variance := stats[k].float32s()
		tm, err := tf.NewTensor(mean)
		if err != nil {
			return err
		}
		tv, err := tf.NewTensor(variance)
		if err != nil {
			return err
		}
		feeds[a.layers[i].feedMean], feeds[a.layers[i].feedVar] = tm, tv
		ops = append(ops, a.layers[i].assign...)
	}
	if _, err := a.sess.Run(feeds, nil, ops); err != nil {
		return fmt.Errorf("assign the statistics: %s", smgraph.OneLine(err.Error()))
	}
	return nil
}

// moments merges batch statistics into population ones (Chan et al.'s parallel
// algorithm): count, mean and the sum of squared deviations, in float64.
type moments struct {
	n        float64
	mean, m2 []float64
}

func (m *moments) add(n float64, mean, variance []float64) {
	if m.n == 0 {
		m.n, m.mean, m.m2 = n, append([]float64(nil), mean...), make([]float64, len(mean))
		for c, v := range variance {
			m.m2[c] = v * n
		}
		return
	}
	total := m.n + n
	for c := range mean {
		d := mean[c] - m.mean[c]
		m.mean[c] += d * n / total
		m.m2[c] += variance[c]*n + d*d*m.n*n/total
	}
	m.n = total
}

// float32s are the mean and the population (biased) variance, as the variables hold them.
func (m *moments) float32s() (mean, variance []float32) {
	mean, variance = make([]float32, len(m.mean)), make([]float32, len(m.mean))
	for c := range m.mean {
		mean[c], variance[c] = float32(m.mean[c]), float32(m.m2[c]/m.n)
	}
	return mean, variance
}
