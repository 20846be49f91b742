package export

import (
	"fmt"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

// exportGraph is the SavedModel's graph, live in a session of its own so TensorFlow's
// SaveV2 writes the checkpoint.
type exportGraph struct {
	graph   *tf.Graph
	input   tf.Output // PlaceholderWithDefault "image": fed by serving_default, else preprocessed bytes
	bytes   tf.Output // "image_bytes" placeholder
	probs   tf.Output
	classID tf.Output
	// serving_gradcam: the class explained (defaults to classID) and the heatmap.
	gradClass, heatmap tf.Output
	layerOutputs       []string            // "layer<TAB>tensor" (layerCollection)
	vars               []*tfgraph.Variable // the model's, to find the same-named ops here
	// handleName maps a variable's Keras name to its VarHandleOp here: the Keras name
	// itself where free, so Python's loader names the variables "conv1/kernel:0".
	handleName map[string]string
	saver      *smgraph.Saver
	metaInfo   *pb.MetaGraphDef_MetaInfoDef
}

// buildSavedModel copies m's inference path into a new graph, routes the model input
// through a PlaceholderWithDefault whose default is the in-graph preprocessing of
// image_bytes (so both signatures share one copy of the network), and adds class_id
// and the saver.
func buildSavedModel(m *tfgraph.Model, size int, meta savedmodels.Metadata) (*exportGraph, error) {
	def, err := inferenceGraphDef(m)
	if err != nil {
		return nil, err
	}
	handleName := renameHandles(def, m.Variables)
	fname, err := addPreprocessFunction(def, meta)
	if err != nil {
		return nil, err
	}
	addBytesInput(def, m.Input.Op.Name(), fname, size)
	e, err := importExportGraph(def, m, handleName)
	if err != nil {
		return nil, err
	}
	e.metaInfo = &pb.MetaGraphDef_MetaInfoDef{
		MetaGraphVersion:  meta.Summary(),
		Tags:              []string{savedmodels.ServeTag},
		TensorflowVersion: meta.TFVersion,
	}
	return e, nil
}

// inferenceGraphDef is m's graph pruned to what inference and the variables need, checked
// for ops that would clash with the names the SavedModel adds.
func inferenceGraphDef(m *tfgraph.Model) (*gpb.GraphDef, error) {
	live, err := smgraph.GraphDef(m.Graph)
	if err != nil {
		return nil, err
	}
	roots := []string{m.Probs.Op.Name()}
	for _, v := range m.Variables {
		roots = append(roots, v.Handle.Op.Name(), v.Value.Op.Name(), v.Initial.Name(), v.Assign.Name())
	}
	def, err := smgraph.Prune(live, roots)
	if err != nil {
		return nil, err
	}
	for _, n := range def.Node {
		if n.Name == bytesOpName || n.Name == mapOpName || strings.HasPrefix(n.Name, "save/") || strings.HasPrefix(n.Name, "serving/") || strings.HasPrefix(n.Name, smgraph.GradCAMScope+"/") {
			return nil, fmt.Errorf("the model graph already has an op %q, a name the SavedModel needs", n.Name)
		}
	}
	return def, nil
}

// addPreprocessFunction adds the in-graph preprocessing (preprocessBody) to def's
// function library and returns its name.
func addPreprocessFunction(def *gpb.GraphDef, meta savedmodels.Metadata) (string, error) {
	body, err := preprocessBody(meta.Preprocessor())
	if err != nil {
		return "", err
	}
	fdefBytes, err := graphToFunctionDef(body, preprocessFunc, []string{preprocess.GraphInput}, []string{preprocess.GraphOutput}, []string{"pixels"})
	if err != nil {
		return "", err
	}
	fdef := new(fnpb.FunctionDef)
	if err := proto.Unmarshal(fdefBytes, fdef); err != nil {
		return "", fmt.Errorf("parse function %s: %w", preprocessFunc, err)
	}
	if def.Library == nil {
		def.Library = new(fnpb.FunctionDefLibrary)
	}
	def.Library.Function = append(def.Library.Function, fdef)
	return fdef.Signature.Name, nil
}

// addBytesInput adds image_bytes (a batch of encoded files) and the MapDefun that
// preprocesses them with function fname, and turns the float input into a
// PlaceholderWithDefault fed from it: serving_bytes feeds the files, serving_default
// feeds pixels and never runs the map.
func addBytesInput(def *gpb.GraphDef, inputName, fname string, size int) {
	def.Node = append(def.Node,
		&nodepb.NodeDef{Name: bytesOpName, Op: "Placeholder", Attr: map[string]*attrpb.AttrValue{
			"dtype": smgraph.TypeAttr(typespb.DataType_DT_STRING),
			"shape": {Value: &attrpb.AttrValue_Shape{Shape: smgraph.ShapeProto(-1)}},
		}},
		// MapDefun runs the preprocessing function on each file of the batch (files differ
		// in size, so no batched op can decode them) and stacks the [S, S, 3] results.
		&nodepb.NodeDef{Name: mapOpName, Op: "MapDefun", Input: []string{bytesOpName}, Attr: map[string]*attrpb.AttrValue{
			"Targuments":               smgraph.TypeListAttr(typespb.DataType_DT_STRING),
			"Tcaptured":                smgraph.TypeListAttr(),
			"output_types":             smgraph.TypeListAttr(typespb.DataType_DT_FLOAT),
			"output_shapes":            {Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{Shape: []*shapepb.TensorShapeProto{smgraph.ShapeProto(int64(size), int64(size), 3)}}}},
			"f":                        {Value: &attrpb.AttrValue_Func{Func: &attrpb.NameAttrList{Name: fname}}},
			"max_intra_op_parallelism": {Value: &attrpb.AttrValue_I{I: 1}},
		}},
	)
	for _, n := range def.Node {
		if n.Name == inputName {
			n.Op = "PlaceholderWithDefault"
			n.Input = []string{mapOpName}
			n.Attr = map[string]*attrpb.AttrValue{
				"dtype": smgraph.TypeAttr(typespb.DataType_DT_FLOAT),
				"shape": {Value: &attrpb.AttrValue_Shape{Shape: smgraph.ShapeProto(-1, int64(size), int64(size), 3)}},
			}
		}
	}
}

// importExportGraph imports def into a new graph and adds the class-id output and the
// saver over the renamed variable handles.
func importExportGraph(def *gpb.GraphDef, m *tfgraph.Model, handleName map[string]string) (*exportGraph, error) {
	g := tf.NewGraph()
	b, err := proto.Marshal(def)
	if err != nil {
		return nil, err
	}
	if err := g.Import(b, ""); err != nil {
		return nil, fmt.Errorf("import the inference graph: %w", err)
	}
	opOf := func(name string) (*tf.Operation, error) {
		o := g.Operation(name)
		if o == nil {
			return nil, fmt.Errorf("op %q missing after import", name)
		}
		return o, nil
	}
	e := &exportGraph{graph: g, vars: m.Variables, handleName: handleName}
	for _, x := range []struct {
		dst  *tf.Output
		name string
		idx  int
	}{{&e.input, m.Input.Op.Name(), 0}, {&e.bytes, bytesOpName, 0}, {&e.probs, m.Probs.Op.Name(), m.Probs.Index}} {
		o, err := opOf(x.name)
		if err != nil {
			return nil, err
		}
		*x.dst = o.Output(x.idx)
	}
	s := op.NewScopeWithGraph(g)
	e.classID = s.AddOperation(tf.OpSpec{Type: "ArgMax", Name: smgraph.ClassIDOp,
		Input: []tf.Input{e.probs, op.Const(s.SubScope("serving").SubScope("class_axis"), int32(1))},
		Attrs: map[string]any{"output_type": tf.Int64}}).Output(0)
	if err := e.addGradCAM(s, m, int(m.Input.Shape().Size(1))); err != nil {
		return nil, err
	}
	handles := make([]tf.Output, len(m.Variables))
	for i, v := range m.Variables {
		o, err := opOf(handleName[v.Name])
		if err != nil {
			return nil, err
		}
		handles[i] = o.Output(v.Handle.Index)
	}
	if e.saver, err = smgraph.AddSaver(s.SubScope("save"), m.Variables, handles); err != nil {
		return nil, err
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

// renameHandles renames each variable's VarHandleOp in def to the variable's Keras name
// (rewriting every reference) where no op has that name yet, as TF1 named variables, and
// returns the handle op name of every variable.
func renameHandles(def *gpb.GraphDef, vars []*tfgraph.Variable) map[string]string {
	taken := make(map[string]bool, len(def.Node))
	for _, n := range def.Node {
		taken[n.Name] = true
	}
	names := make(map[string]string, len(vars))
	rename := map[string]string{}
	for _, v := range vars {
		old := v.Handle.Op.Name()
		names[v.Name] = old
		if v.Handle.Index == 0 && !taken[v.Name] {
			rename[old], names[v.Name] = v.Name, v.Name
			taken[v.Name] = true
		}
	}
	for _, n := range def.Node {
		if to, ok := rename[n.Name]; ok {
			n.Name = to
		}
		for i, in := range n.Input {
			ctl, src, port := "", in, ""
			if strings.HasPrefix(src, "^") {
				ctl, src = "^", src[1:]
			}
			if j := strings.LastIndexByte(src, ':'); j >= 0 {
				src, port = src[:j], src[j:]
			}
			if to, ok := rename[src]; ok {
				n.Input[i] = ctl + to + port
			}
		}
	}
	return names
}
