package adapt

import (
	"fmt"
	"slices"
	"strings"

	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	varpb "github.com/wamuir/graft/tensorflow/core/framework/variable_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"google.golang.org/protobuf/proto"
)

// bnLayer is one BatchNormalization layer of a SavedModel's inference graph, found by the
// shape of the ops tfgraph builds for it (tf.nn.batch_normalization's order):
//
//	inv   = rsqrt(moving_variance + eps) [* gamma]
//	y     = x * inv + (beta - moving_mean * inv)
//
// Its moving statistics are the variables "<layer>/moving_mean" and
// "<layer>/moving_variance" (Keras weight paths, the SavedModel's variable names).
type bnLayer struct {
	name            string // Keras layer name
	meanVar, varVar string // handle op names of the two variables
	meanRead        string // their snapshots (ReadVariableOp tensors) the layer reads
	varRead         string
	x               string // the layer's input tensor, "op:index"
	mulMean         string // Mul(moving_mean, inv): batch mode feeds it the batch mean
	addEps          string // AddV2(moving_variance, eps): batch mode feeds it the batch variance
	level           int    // 0: no BatchNormalization upstream; else 1 + the deepest upstream one's
	channels        int64
}

// findBatchNorm lists the BatchNormalization layers of mg in the order of its variables
// collection (Keras's weight order, which is network order), each with its level.
func findBatchNorm(mg *pb.MetaGraphDef) ([]*bnLayer, error) {
	vars, err := variableDefs(mg)
	if err != nil {
		return nil, err
	}
	byName := map[string]*varpb.VariableDef{}
	for _, v := range vars {
		byName[strings.TrimSuffix(v.VariableName, ":0")] = v
	}
	g := indexGraph(mg.GetGraphDef())
	var layers []*bnLayer
	for _, v := range vars {
		handle := strings.TrimSuffix(v.VariableName, ":0")
		layer, ok := strings.CutSuffix(handle, "/moving_mean")
		if !ok {
			continue
		}
		vv := byName[layer+"/moving_variance"]
		if vv == nil {
			continue // not a BatchNormalization layer
		}
		l := &bnLayer{name: layer, meanVar: handle, varVar: layer + "/moving_variance", meanRead: v.SnapshotName, varRead: vv.SnapshotName}
		if h := g.nodes[handle]; h != nil {
			if d := h.GetAttr()["shape"].GetShape().GetDim(); len(d) == 1 {
				l.channels = d[0].Size
			}
		}
		if err := g.wire(l); err != nil {
			return nil, fmt.Errorf("layer %s: %w: not the BatchNormalization xray exports", layer, err)
		}
		layers = append(layers, l)
	}
	if len(layers) == 0 {
		return nil, nil
	}
	g.levels(layers)
	return layers, nil
}

// variableDefs reads the "variables" collection savedmodels/export.SavedModel writes.
func variableDefs(mg *pb.MetaGraphDef) ([]*varpb.VariableDef, error) {
	col := mg.GetCollectionDef()["variables"].GetBytesList().GetValue()
	out := make([]*varpb.VariableDef, 0, len(col))
	for _, b := range col {
		v := new(varpb.VariableDef)
		if err := proto.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("variables collection: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// graphIndex finds nodes and their consumers by name.
type graphIndex struct {
	nodes     map[string]*nodepb.NodeDef
	consumers map[string][]*nodepb.NodeDef // tensor "op:index" -> nodes reading it
	order     []*nodepb.NodeDef
}

func indexGraph(def *gpb.GraphDef) *graphIndex {
	g := &graphIndex{nodes: map[string]*nodepb.NodeDef{}, consumers: map[string][]*nodepb.NodeDef{}, order: def.GetNode()}
	for _, n := range def.GetNode() {
		g.nodes[n.Name] = n
		for _, in := range n.Input {
			if !strings.HasPrefix(in, "^") {
				g.consumers[canonical(in)] = append(g.consumers[canonical(in)], n)
			}
		}
	}
	return g
}

// canonical spells a tensor reference "op:index".
func canonical(t string) string {
	if strings.LastIndexByte(t, ':') < 0 {
		return t + ":0"
	}
	return t
}

// consumer is the one node of type typ reading tensor t (gradient ops aside).
func (g *graphIndex) consumer(t, typ string) (*nodepb.NodeDef, error) {
	var found *nodepb.NodeDef
	for _, n := range g.consumers[canonical(t)] {
		if n.Op == typ && !strings.Contains("/"+n.Name, "/gradients/") {
			if found != nil {
				return nil, fmt.Errorf("%s is read by two %s ops (%s, %s)", t, typ, found.Name, n.Name)
			}
			found = n
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no %s op reads %s", typ, t)
	}
	return found, nil
}

// other is the input of the two-input node n that is not t.
func other(n *nodepb.NodeDef, t string) (string, error) {
	if len(n.Input) != 2 {
		return "", fmt.Errorf("%s has %d inputs, want 2", n.Name, len(n.Input))
	}
	switch canonical(t) {
	case canonical(n.Input[0]):
		return canonical(n.Input[1]), nil
	case canonical(n.Input[1]):
		return canonical(n.Input[0]), nil
	}
	return "", fmt.Errorf("%s does not read %s", n.Name, t)
}

// wire finds l's ops from its two snapshots: Mul(mean, inv), AddV2(variance, eps), the
// shift (beta - mean*inv, or its negation without beta) and AddV2(x*inv, shift), whose
// other input Mul(x, inv) reads the layer's input x.
func (g *graphIndex) wire(l *bnLayer) error {
	mulMean, err := g.consumer(l.meanRead, "Mul")
	if err != nil {
		return err
	}
	addEps, err := g.consumer(l.varRead, "AddV2")
	if err != nil {
		return err
	}
	inv, err := other(mulMean, l.meanRead)
	if err != nil {
		return err
	}
	shift, err := g.consumer(mulMean.Name+":0", "Sub")
	if err != nil {
		if shift, err = g.consumer(mulMean.Name+":0", "Neg"); err != nil {
			return err
		}
	}
	addShift, err := g.consumer(shift.Name+":0", "AddV2")
	if err != nil {
		return err
	}
	xinv, err := other(addShift, shift.Name+":0")
	if err != nil {
		return err
	}
	mulX := g.nodes[smgraph.NodeName(xinv)]
	if mulX == nil || mulX.Op != "Mul" {
		return fmt.Errorf("%s is not Mul(x, inv)", xinv)
	}
	if l.x, err = other(mulX, inv); err != nil {
		return err
	}
	l.mulMean, l.addEps = mulMean.Name, addEps.Name
	return nil
}

// levels sets each layer's level: a layer's input depends on the moving statistics of
// exactly the layers whose snapshots are its ancestors, so layers of one level can be
// measured in one pass once every lower level is replaced, the same numbers as one
// layer at a time.
func (g *graphIndex) levels(layers []*bnLayer) {
	reads := map[string]int{} // snapshot op -> layer index
	for i, l := range layers {
		reads[smgraph.NodeName(l.meanRead)], reads[smgraph.NodeName(l.varRead)] = i, i
	}
	words := (len(layers) + 63) / 64
	anc := map[string][]uint64{} // op -> the layers whose statistics it depends on
	var visit func(name string) []uint64
	visit = func(name string) []uint64 {
		if a, ok := anc[name]; ok {
			return a
		}
		a := make([]uint64, words)
		anc[name] = a // the graph is acyclic: a placeholder while the inputs are visited
		if i, ok := reads[name]; ok {
			a[i/64] |= 1 << (i % 64)
		}
		if n := g.nodes[name]; n != nil {
			for _, in := range n.Input {
				for w, bits := range visit(smgraph.NodeName(in)) {
					a[w] |= bits
				}
			}
		}
		return a
	}
	deps := make([][]uint64, len(layers))
	for i, l := range layers {
		deps[i] = visit(smgraph.NodeName(l.x))
	}
	done := make([]bool, len(layers))
	var level func(i int) int
	level = func(i int) int {
		if !done[i] {
			done[i] = true // upstream is a partial order: no layer reaches itself
			for j := range layers {
				if j != i && deps[i][j/64]&(1<<(j%64)) != 0 {
					layers[i].level = max(layers[i].level, level(j)+1)
				}
			}
		}
		return layers[i].level
	}
	for i := range layers {
		level(i)
	}
}

// passes groups layer indices by level.
func passes(layers []*bnLayer) [][]int {
	var out [][]int
	for i, l := range layers {
		for len(out) <= l.level {
			out = append(out, nil)
		}
		out[l.level] = append(out[l.level], i)
	}
	return slices.DeleteFunc(out, func(p []int) bool { return len(p) == 0 })
}
