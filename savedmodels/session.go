package savedmodels

import (
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/tflog"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
)

// heldModel is a loaded SavedModel whose session this package owns: tfgo keeps its
// session private and closes it only in a GC finalizer, which leaves a swapped-out
// model's variables in memory for an unknown time (a server reloading versions would
// grow). Loading with graft directly lets Close release them at once.
type heldModel struct{ saved *tf.SavedModel }

func loadHeld(dir string, so *tf.SessionOptions) (m *heldModel, err error) {
	defer smgraph.Recovered(&err)
	var config []byte
	if so != nil {
		config = so.Config
	}
	tflog.Once(config)
	saved, err := tf.LoadSavedModel(dir, []string{ServeTag}, so)
	if err != nil {
		return nil, err
	}
	return &heldModel{saved}, nil
}

// op finds a signature tensor given as "op:index".
func (h *heldModel) op(name string) (tf.Output, error) {
	return smgraph.TensorByName(h.saved.Graph, name)
}

func (h *heldModel) exec(fetch []tf.Output, feed map[tf.Output]*tf.Tensor) (out []*tf.Tensor, err error) {
	defer smgraph.Recovered(&err)
	return h.saved.Session.Run(feed, fetch, nil)
}

// close releases the session and with it the variables' memory.
func (h *heldModel) close() error { return h.saved.Session.Close() }

// addGradCAM adds to the loaded graph, under a fresh scope, method's map of feat for the class
// fed to its class input (by default class, the predicted one).
func (h *heldModel) addGradCAM(method string, logits, feat, class tf.Output, size int) (ops gradcamOps, err error) {
	defer smgraph.Recovered(&err)
	s := op.NewScopeWithGraph(h.saved.Graph).SubScope(tfgraph.FreeName(h.saved.Graph, smgraph.GradCAMScope))
	ops.class = op.PlaceholderWithDefault(s.SubScope("class"), class, tf.MakeShape(-1))
	ops.heatmap, err = tfgraph.AddCAM(s, method, logits, feat, ops.class, size)
	return ops, err
}
