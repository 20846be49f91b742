package savedmodels

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	varpb "github.com/wamuir/graft/tensorflow/core/framework/variable_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Signature, tensor and file names of the SavedModel format (see the package doc).
const (
	SignatureDefault = "serving_default"
	SignatureBytes   = "serving_bytes"

	InputImage          = "image"
	InputImageBytes     = "image_bytes"
	OutputProbabilities = "probabilities"
	OutputClassID       = "class_id"

	ServeTag     = "serve"
	MetadataFile = "assets.extra/xray.json"

	predictMethod = "tensorflow/serving/predict"
	bytesOpName   = "image_bytes"
	mapOpName     = "serving_bytes/preprocess"
	classIDOpName = "serving/class_id"
)

// Metadata describes a SavedModel: what it is, how its inputs are prepared, where it came
// from. Export writes it to assets.extra/xray.json and, shortened, to the MetaGraphDef's
// meta_info_def.meta_graph_version; the full JSON also rides in meta_info_def.any_info.
type Metadata struct {
	Arch          string             `json:"architecture"`  // tfgraph.MobileNet, Xception, InceptionV3
	InputSize     int                `json:"input_size"`    // square input side in pixels
	Pool          string             `json:"pool"`          // head pooling: avg or max
	Preprocessing preprocess.Scaling `json:"preprocessing"` // pixel scaling: unit ([0,1], the paper's) or imagenet ([-1,1])
	Classes       []string           `json:"classes"`       // class names by class id; default labels.Default()
	RunID         string             `json:"run_id"`        // the training run that produced the weights
	XrayVersion   string             `json:"xray_version"`
	TFVersion     string             `json:"tensorflow_version"`
	// Threshold is the operating point training chose on its validation split; nil (older
	// models, or none chosen) decides by argmax, the paper's rule.
	Threshold *decision.Threshold `json:"threshold,omitempty"`
}

// Decide is the class by the model's operating threshold, by argmax when it has none.
func (m Metadata) Decide(probs [2]float32) int {
	var t decision.Threshold
	if m.Threshold != nil {
		t = *m.Threshold
	}
	return t.Class([2]float64{float64(probs[0]), float64(probs[1])})
}

// validateThreshold checks a stored operating point.
func (m Metadata) validateThreshold() error {
	if t := m.Threshold; t != nil {
		if _, err := decision.ParseRule(string(t.Rule)); err != nil {
			return err
		}
		if !(t.Value >= 0 && t.Value <= 1) {
			return fmt.Errorf("threshold %v is not a probability", t.Value)
		}
	}
	return nil
}

// preprocessor is the Go preprocessing the model expects, the one serving_bytes mirrors.
func (m Metadata) preprocessor() preprocess.Preprocessor {
	return preprocess.Preprocessor{Size: m.InputSize, Scaling: m.Preprocessing}
}

// short is the one-line form kept in meta_info_def.meta_graph_version.
func (m Metadata) short() string {
	return fmt.Sprintf("xray %s arch=%s input=%d pool=%s preprocessing=%s classes=%s run=%s",
		m.XrayVersion, m.Arch, m.InputSize, m.Pool, m.Preprocessing, strings.Join(m.Classes, ","), m.RunID)
}

// withDefaults fills what the model itself says and checks the rest.
func (meta Metadata) withDefaults(m *tfgraph.Model, size int) (Metadata, error) {
	if meta.Arch == "" {
		meta.Arch = m.Config.Arch
	}
	if m.Config.Arch != "" && meta.Arch != m.Config.Arch {
		return meta, fmt.Errorf("metadata architecture %q != the model's %q", meta.Arch, m.Config.Arch)
	}
	if m.Config.Pool != "" && meta.Pool != "" && meta.Pool != m.Config.Pool {
		return meta, fmt.Errorf("metadata pooling %q != the model's %q", meta.Pool, m.Config.Pool)
	}
	if meta.InputSize == 0 {
		meta.InputSize = size
	}
	if meta.InputSize != size {
		return meta, fmt.Errorf("metadata input size %d != the model's input %d", meta.InputSize, size)
	}
	if meta.Pool == "" {
		meta.Pool = m.Config.Pool
	}
	if meta.Pool == "" {
		meta.Pool = tfgraph.PoolAvg
	}
	if meta.Preprocessing == "" {
		meta.Preprocessing = preprocess.Unit
	}
	if err := meta.preprocessor().Validate(); err != nil {
		return meta, fmt.Errorf("metadata: %w", err)
	}
	if len(meta.Classes) == 0 {
		meta.Classes = labels.Default().Names()
	}
	if len(meta.Classes) != 2 {
		return meta, fmt.Errorf("metadata: %d class names %q, the model has 2 outputs", len(meta.Classes), meta.Classes)
	}
	if err := meta.validateThreshold(); err != nil {
		return meta, fmt.Errorf("metadata: %w", err)
	}
	if meta.XrayVersion == "" {
		meta.XrayVersion = buildinfo.Version
	}
	if meta.TFVersion == "" {
		meta.TFVersion = buildinfo.TensorFlowVersion()
	}
	return meta, nil
}

// Export writes m's inference graph, with the variables' current values in sess, as a
// SavedModel directory dir (see the package doc for the layout). The live graph is not
// changed. dir is built in a temporary directory next to it and renamed into place; an
// existing dir is replaced only once the new one is complete.
func Export(dir string, sess *tf.Session, m *tfgraph.Model, meta Metadata) (err error) {
	fail := func(err error) error { return fmt.Errorf("export SavedModel %s: %w", dir, err) }
	defer func() {
		if r := recover(); r != nil { // graft panics on some misuse; never across our boundary
			err = fail(fmt.Errorf("%v", r))
		}
	}()
	if m == nil || m.Graph == nil || sess == nil {
		return fail(errors.New("no model or session"))
	}
	size, err := inputSize(m.Input)
	if err != nil {
		return fail(err)
	}
	if meta, err = meta.withDefaults(m, size); err != nil {
		return fail(err)
	}
	values, err := tfgraph.Values(sess, m.Variables)
	if err != nil {
		return fail(err)
	}
	saved, err := buildSavedModel(m, size, meta)
	if err != nil {
		return fail(tfgraph.CleanError(err))
	}

	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := saved.write(tmp, values, meta); err != nil {
		return fail(tfgraph.CleanError(err))
	}
	if err := replaceDir(tmp, dir); err != nil {
		return fail(err)
	}
	return nil
}

// inputSize reads S from the model's input placeholder [-1, S, S, 3].
func inputSize(in tf.Output) (int, error) {
	if in.Op == nil || in.Op.Type() != "Placeholder" {
		return 0, errors.New("model input is not a placeholder")
	}
	sh, err := in.Shape().ToSlice()
	if err != nil || len(sh) != 4 || sh[1] <= 0 || sh[1] != sh[2] || sh[3] != 3 {
		return 0, fmt.Errorf("model input %s has shape %v, want [-1 S S 3]", in.Op.Name(), in.Shape())
	}
	return int(sh[1]), nil
}

// replaceDir renames the finished tmp to dir, moving an existing dir aside first and
// deleting it only after the new one is in place.
func replaceDir(tmp, dir string) error {
	if _, err := os.Lstat(dir); err != nil {
		return os.Rename(tmp, dir)
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("move the existing directory aside: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}

// exportGraph is the SavedModel's graph, live in a session of its own so TensorFlow's
// SaveV2 writes the checkpoint.
type exportGraph struct {
	graph   *tf.Graph
	input   tf.Output // PlaceholderWithDefault "image": fed by serving_default, else preprocessed bytes
	bytes   tf.Output // "image_bytes" placeholder
	probs   tf.Output
	classID tf.Output
	vars    []*tfgraph.Variable // the model's, to find the same-named ops here
	// handleName maps a variable's Keras name to its VarHandleOp here: the Keras name
	// itself where free, so Python's loader names the variables "conv1/kernel:0".
	handleName map[string]string
	saver      *saver
	metaInfo   *pb.MetaGraphDef_MetaInfoDef
}

// buildSavedModel copies m's inference path into a new graph, routes the model input
// through a PlaceholderWithDefault whose default is the in-graph preprocessing of
// image_bytes (so both signatures share one copy of the network), and adds class_id
// and the saver.
func buildSavedModel(m *tfgraph.Model, size int, meta Metadata) (*exportGraph, error) {
	live, err := graphDef(m.Graph)
	if err != nil {
		return nil, err
	}
	inputName := m.Input.Op.Name()
	roots := []string{m.Probs.Op.Name()}
	for _, v := range m.Variables {
		roots = append(roots, v.Handle.Op.Name(), v.Value.Op.Name(), v.Initial.Name(), v.Assign.Name())
	}
	def, err := prune(live, roots)
	if err != nil {
		return nil, err
	}
	for _, n := range def.Node {
		if n.Name == bytesOpName || n.Name == mapOpName || strings.HasPrefix(n.Name, "save/") || strings.HasPrefix(n.Name, "serving/") {
			return nil, fmt.Errorf("the model graph already has an op %q, a name the SavedModel needs", n.Name)
		}
	}

	handleName := renameHandles(def, m.Variables)

	body, err := preprocessBody(meta.preprocessor())
	if err != nil {
		return nil, err
	}
	fdefBytes, err := graphToFunctionDef(body, preprocessFunc, []string{preprocessInput}, []string{preprocessOutput}, []string{preprocessOutput})
	if err != nil {
		return nil, err
	}
	fdef := new(fnpb.FunctionDef)
	if err := proto.Unmarshal(fdefBytes, fdef); err != nil {
		return nil, fmt.Errorf("parse function %s: %w", preprocessFunc, err)
	}
	if def.Library == nil {
		def.Library = new(fnpb.FunctionDefLibrary)
	}
	def.Library.Function = append(def.Library.Function, fdef)

	imageShape := shapeProto(-1, int64(size), int64(size), 3)
	def.Node = append(def.Node,
		&nodepb.NodeDef{Name: bytesOpName, Op: "Placeholder", Attr: map[string]*attrpb.AttrValue{
			"dtype": typeAttr(typespb.DataType_DT_STRING),
			"shape": {Value: &attrpb.AttrValue_Shape{Shape: shapeProto(-1)}},
		}},
		// MapDefun runs the preprocessing function on each file of the batch (files differ
		// in size, so no batched op can decode them) and stacks the [S, S, 3] results.
		&nodepb.NodeDef{Name: mapOpName, Op: "MapDefun", Input: []string{bytesOpName}, Attr: map[string]*attrpb.AttrValue{
			"Targuments":               typeListAttr(typespb.DataType_DT_STRING),
			"Tcaptured":                typeListAttr(),
			"output_types":             typeListAttr(typespb.DataType_DT_FLOAT),
			"output_shapes":            {Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{Shape: []*shapepb.TensorShapeProto{shapeProto(int64(size), int64(size), 3)}}}},
			"f":                        {Value: &attrpb.AttrValue_Func{Func: &attrpb.NameAttrList{Name: fdef.Signature.Name}}},
			"max_intra_op_parallelism": {Value: &attrpb.AttrValue_I{I: 1}},
		}},
	)
	for _, n := range def.Node {
		if n.Name == inputName {
			n.Op = "PlaceholderWithDefault"
			n.Input = []string{mapOpName}
			n.Attr = map[string]*attrpb.AttrValue{
				"dtype": typeAttr(typespb.DataType_DT_FLOAT),
				"shape": {Value: &attrpb.AttrValue_Shape{Shape: imageShape}},
			}
		}
	}

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
	}{{&e.input, inputName, 0}, {&e.bytes, bytesOpName, 0}, {&e.probs, m.Probs.Op.Name(), m.Probs.Index}} {
		o, err := opOf(x.name)
		if err != nil {
			return nil, err
		}
		*x.dst = o.Output(x.idx)
	}
	s := op.NewScopeWithGraph(g)
	e.classID = s.AddOperation(tf.OpSpec{Type: "ArgMax", Name: classIDOpName,
		Input: []tf.Input{e.probs, op.Const(s.SubScope("serving").SubScope("class_axis"), int32(1))},
		Attrs: map[string]any{"output_type": tf.Int64}}).Output(0)
	handles := make([]tf.Output, len(m.Variables))
	for i, v := range m.Variables {
		o, err := opOf(handleName[v.Name])
		if err != nil {
			return nil, err
		}
		handles[i] = o.Output(v.Handle.Index)
	}
	if e.saver, err = addSaver(s.SubScope("save"), m.Variables, handles); err != nil {
		return nil, err
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	e.metaInfo = &pb.MetaGraphDef_MetaInfoDef{
		MetaGraphVersion:  meta.short(),
		Tags:              []string{ServeTag},
		TensorflowVersion: meta.TFVersion,
	}
	return e, nil
}

// write assigns values to the variables in a session of the export graph, has SaveV2
// write dir/variables/variables.*, and writes saved_model.pb and the metadata file.
func (e *exportGraph) write(dir string, values map[string]*tf.Tensor, meta Metadata) error {
	sess, err := tf.NewSession(e.graph, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	feeds := make(map[tf.Output]*tf.Tensor, len(e.vars))
	assigns := make([]*tf.Operation, len(e.vars))
	for i, v := range e.vars {
		feed := e.graph.Operation(v.Feed.Op.Name())
		assign := e.graph.Operation(v.Assign.Name())
		if feed == nil || assign == nil {
			return fmt.Errorf("variable %s: its assign ops are missing from the graph", v.Name)
		}
		feeds[feed.Output(0)] = values[v.Name]
		assigns[i] = assign
	}
	if len(assigns) > 0 {
		if _, err := sess.Run(feeds, nil, assigns); err != nil {
			return fmt.Errorf("copy variables: %s", oneLine(err.Error()))
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "variables"), 0o755); err != nil {
		return err
	}
	if len(e.vars) > 0 {
		prefix, err := tf.NewTensor(filepath.Join(dir, "variables", "variables"))
		if err != nil {
			return err
		}
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{e.saver.filename: prefix}, []tf.Output{e.saver.saveTensor}, nil); err != nil {
			return fmt.Errorf("save variables: %s", oneLine(err.Error()))
		}
	}

	full, err := graphDef(e.graph)
	if err != nil {
		return err
	}
	// Keep what serving and restoring need; the variables' Go-side feed/assign ops go.
	roots := []string{e.probs.Op.Name(), e.classID.Op.Name(), e.saver.saveTensor.Op.Name(), e.saver.restore.Name()}
	for _, v := range e.vars {
		roots = append(roots, e.handleName[v.Name], v.Value.Op.Name(), v.Initial.Name())
	}
	gdef, err := prune(full, roots)
	if err != nil {
		return err
	}
	mg := &pb.MetaGraphDef{
		MetaInfoDef: e.metaInfo,
		GraphDef:    gdef,
		SaverDef:    e.saver.def(),
		SignatureDef: map[string]*pb.SignatureDef{
			SignatureDefault: e.signature(InputImage, e.input, typespb.DataType_DT_FLOAT),
			SignatureBytes:   e.signature(InputImageBytes, e.bytes, typespb.DataType_DT_STRING),
		},
		CollectionDef: e.variableCollections(gdef),
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if mg.MetaInfoDef.AnyInfo, err = anypb.New(wrapperspb.String(string(js))); err != nil {
		return err
	}
	// Deterministic: the same model exports to the same bytes (maps in key order).
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.SavedModel{SavedModelSchemaVersion: 1, MetaGraphs: []*pb.MetaGraphDef{mg}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pb"), b, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(MetadataFile)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, MetadataFile), append(js, '\n'), 0o644)
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

func (e *exportGraph) signature(inName string, in tf.Output, dtype typespb.DataType) *pb.SignatureDef {
	inShape := shapeProto(-1)
	if dtype == typespb.DataType_DT_FLOAT {
		sh, _ := in.Shape().ToSlice()
		inShape = shapeProto(sh...)
	}
	return &pb.SignatureDef{
		Inputs: map[string]*pb.TensorInfo{inName: tensorInfo(in, dtype, inShape)},
		Outputs: map[string]*pb.TensorInfo{
			OutputProbabilities: tensorInfo(e.probs, typespb.DataType_DT_FLOAT, shapeProto(-1, 2)),
			OutputClassID:       tensorInfo(e.classID, typespb.DataType_DT_INT64, shapeProto(-1)),
		},
		MethodName: predictMethod,
	}
}

// variableCollections lists the variables as TF1 VariableDefs (resource variables), so
// Python's loader recreates them as variables of the loaded object.
func (e *exportGraph) variableCollections(gdef *gpb.GraphDef) map[string]*pb.CollectionDef {
	initialValue := make(map[string]string) // initializer op -> value tensor
	for _, n := range gdef.Node {
		if n.Op == "AssignVariableOp" && len(n.Input) >= 2 {
			initialValue[n.Name] = n.Input[1]
		}
	}
	var all, trainable [][]byte
	for _, v := range e.vars {
		iv := initialValue[v.Initial.Name()]
		if iv != "" && !strings.Contains(iv, ":") {
			iv += ":0"
		}
		b, err := proto.Marshal(&varpb.VariableDef{
			VariableName:     e.handleName[v.Name] + ":0",
			InitialValueName: iv,
			InitializerName:  v.Initial.Name(),
			SnapshotName:     tensorName(v.Value),
			IsResource:       true,
			Trainable:        v.Trainable,
		})
		if err != nil {
			continue // cannot happen for this message
		}
		all = append(all, b)
		if v.Trainable {
			trainable = append(trainable, b)
		}
	}
	cols := map[string]*pb.CollectionDef{}
	if len(all) > 0 {
		cols["variables"] = bytesCollection(all)
	}
	if len(trainable) > 0 {
		cols["trainable_variables"] = bytesCollection(trainable)
	}
	return cols
}

func bytesCollection(v [][]byte) *pb.CollectionDef {
	return &pb.CollectionDef{Kind: &pb.CollectionDef_BytesList_{BytesList: &pb.CollectionDef_BytesList{Value: v}}}
}

func tensorName(o tf.Output) string { return fmt.Sprintf("%s:%d", o.Op.Name(), o.Index) }

func tensorInfo(o tf.Output, dtype typespb.DataType, shape *shapepb.TensorShapeProto) *pb.TensorInfo {
	return &pb.TensorInfo{Encoding: &pb.TensorInfo_Name{Name: tensorName(o)}, Dtype: dtype, TensorShape: shape}
}

func shapeProto(dims ...int64) *shapepb.TensorShapeProto {
	s := &shapepb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	return s
}

func typeAttr(t typespb.DataType) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: t}}
}

func typeListAttr(ts ...typespb.DataType) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{Type: ts}}}
}

// sortedVars returns the indices of vars ordered by name (checkpoint order).
func sortedVars(vars []*tfgraph.Variable) []int {
	idx := make([]int, len(vars))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return vars[idx[a]].Name < vars[idx[b]].Name })
	return idx
}
