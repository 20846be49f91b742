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
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	varpb "github.com/wamuir/graft/tensorflow/core/framework/variable_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
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
	err = writeDirAtomic(dir, func(tmp string) error { return tfgraph.CleanError(saved.write(tmp, values, meta)) })
	if err != nil {
		return fail(err)
	}
	return nil
}

// writeDirAtomic has write fill a temporary directory beside dir and renames it into
// place: dir is never half-written, and the temporary directory goes on failure.
func writeDirAtomic(dir string, write func(tmp string) error) error {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := write(tmp); err != nil {
		return err
	}
	return replaceDir(tmp, dir)
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

// write assigns values to the variables in a session of the export graph, has SaveV2
// write dir/variables/variables.*, and writes saved_model.pb and the metadata file.
func (e *exportGraph) write(dir string, values map[string]*tf.Tensor, meta Metadata) error {
	if err := e.saveVariables(dir, values); err != nil {
		return err
	}
	return e.writeSavedModel(dir, meta)
}

// saveVariables assigns values to the variables in a session of the export graph and has
// SaveV2 write dir/variables/variables.*.
func (e *exportGraph) saveVariables(dir string, values map[string]*tf.Tensor) error {
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
	return nil
}

// writeSavedModel writes dir/saved_model.pb (the serving graph, its signatures and the
// metadata) and the metadata file.
func (e *exportGraph) writeSavedModel(dir string, meta Metadata) error {
	full, err := graphDef(e.graph)
	if err != nil {
		return err
	}
	// Keep what serving and restoring need; the variables' Go-side feed/assign ops go.
	roots := []string{e.probs.Op.Name(), e.classID.Op.Name(), e.heatmap.Op.Name(), e.saver.saveTensor.Op.Name(), e.saver.restore.Name()}
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
			SignatureGradCAM: e.gradcamSignature(),
		},
		CollectionDef: e.collections(gdef),
	}
	return writeMetaGraph(dir, mg, meta)
}

// writeMetaGraph writes dir/saved_model.pb, one MetaGraph mg with the metadata in its
// meta_info_def, and the metadata file.
func writeMetaGraph(dir string, mg *pb.MetaGraphDef, meta Metadata) error {
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

func (e *exportGraph) signature(inName string, in tf.Output, dtype typespb.DataType) *pb.SignatureDef {
	inShape := shapeProto(-1)
	if dtype == typespb.DataType_DT_FLOAT {
		sh, _ := in.Shape().ToSlice()
		inShape = shapeProto(sh...)
	}
	return &pb.SignatureDef{
		Inputs: map[string]*pb.TensorInfo{inName: tensorInfo(in, dtype, inShape)},
		Outputs: map[string]*pb.TensorInfo{
			OutputProbabilities: tensorInfo(e.probs, typespb.DataType_DT_FLOAT, shapeProto(-1, e.classes())),
			OutputClassID:       tensorInfo(e.classID, typespb.DataType_DT_INT64, shapeProto(-1)),
		},
		//lint:ignore SA1019 tf.saved_model.save still writes it, and TensorFlow Serving before 2.4 checks it.
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

// classes is the width of the probabilities output (2 when the graph does not know it).
func (e *exportGraph) classes() int64 {
	if sh := e.probs.Shape(); sh.NumDimensions() == 2 && sh.Size(1) > 0 {
		return sh.Size(1)
	}
	return tfgraph.NumClasses
}
