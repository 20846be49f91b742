package export

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	varpb "github.com/wamuir/graft/tensorflow/core/framework/variable_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/tflog"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

// Op names the SavedModel adds.
const (
	bytesOpName = smgraph.BytesInputOp
	mapOpName   = smgraph.PreprocessMapOp
)

// SavedModel writes m's inference graph, with the variables' current values in sess, as a
// SavedModel directory dir (see the package doc for the layout). The live graph is not
// changed. dir is built in a temporary directory next to it and renamed into place; an
// existing dir is replaced only once the new one is complete.
func SavedModel(dir string, sess *tf.Session, m *tfgraph.Model, meta savedmodels.Metadata) (err error) {
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
	if meta, err = withDefaults(meta, m, size); err != nil {
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
	err = smgraph.WriteDirAtomic(dir, func(tmp string) error { return tfgraph.CleanError(saved.write(tmp, values, meta)) })
	if err != nil {
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

// write assigns values to the variables in a session of the export graph, has SaveV2
// write dir/variables/variables.*, and writes saved_model.pb and the metadata file.
func (e *exportGraph) write(dir string, values map[string]*tf.Tensor, meta savedmodels.Metadata) error {
	if err := e.saveVariables(dir, values); err != nil {
		return err
	}
	return e.writeSavedModel(dir, meta)
}

// saveVariables assigns values to the variables in a session of the export graph and has
// SaveV2 write dir/variables/variables.*.
func (e *exportGraph) saveVariables(dir string, values map[string]*tf.Tensor) error {
	tflog.Once(nil) // as Load does: a library user sees no TensorFlow start-up lines
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
			return fmt.Errorf("copy variables: %s", smgraph.OneLine(err.Error()))
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
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{e.saver.Filename: prefix}, []tf.Output{e.saver.SaveTensor}, nil); err != nil {
			return fmt.Errorf("save variables: %s", smgraph.OneLine(err.Error()))
		}
	}
	return nil
}

// writeSavedModel writes dir/saved_model.pb (the serving graph, its signatures and the
// metadata) and the metadata file.
func (e *exportGraph) writeSavedModel(dir string, meta savedmodels.Metadata) error {
	full, err := smgraph.GraphDef(e.graph)
	if err != nil {
		return err
	}
	// Keep what serving and restoring need; the variables' Go-side feed/assign ops go.
	roots := []string{e.probs.Op.Name(), e.classID.Op.Name(), e.heatmap.Op.Name(), e.saver.SaveTensor.Op.Name(), e.saver.Restore.Name()}
	for _, v := range e.vars {
		roots = append(roots, e.handleName[v.Name], v.Value.Op.Name(), v.Initial.Name())
	}
	gdef, err := smgraph.Prune(full, roots)
	if err != nil {
		return err
	}
	mg := &pb.MetaGraphDef{
		MetaInfoDef: e.metaInfo,
		GraphDef:    gdef,
		SaverDef:    e.saver.Def(),
		SignatureDef: map[string]*pb.SignatureDef{
			savedmodels.SignatureDefault: e.signature(savedmodels.InputImage, e.input, typespb.DataType_DT_FLOAT),
			savedmodels.SignatureBytes:   e.signature(savedmodels.InputImageBytes, e.bytes, typespb.DataType_DT_STRING),
			savedmodels.SignatureGradCAM: e.gradcamSignature(),
		},
		CollectionDef: e.collections(gdef),
	}
	return smgraph.WriteMetaGraph(dir, mg, meta)
}

func (e *exportGraph) signature(inName string, in tf.Output, dtype typespb.DataType) *pb.SignatureDef {
	inShape := smgraph.ShapeProto(-1)
	if dtype == typespb.DataType_DT_FLOAT {
		sh, _ := in.Shape().ToSlice()
		inShape = smgraph.ShapeProto(sh...)
	}
	return &pb.SignatureDef{
		Inputs: map[string]*pb.TensorInfo{inName: smgraph.TensorInfo(in, dtype, inShape)},
		Outputs: map[string]*pb.TensorInfo{
			savedmodels.OutputProbabilities: smgraph.TensorInfo(e.probs, typespb.DataType_DT_FLOAT, smgraph.ShapeProto(-1, e.classes())),
			savedmodels.OutputClassID:       smgraph.TensorInfo(e.classID, typespb.DataType_DT_INT64, smgraph.ShapeProto(-1)),
		},
		//lint:ignore SA1019 tf.saved_model.save still writes it, and TensorFlow Serving before 2.4 checks it.
		MethodName: smgraph.PredictMethod,
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
			SnapshotName:     smgraph.TensorName(v.Value),
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
		cols["variables"] = smgraph.BytesCollection(all)
	}
	if len(trainable) > 0 {
		cols["trainable_variables"] = smgraph.BytesCollection(trainable)
	}
	return cols
}

// classes is the width of the probabilities output (2 when the graph does not know it).
func (e *exportGraph) classes() int64 {
	if sh := e.probs.Shape(); sh.NumDimensions() == 2 && sh.Size(1) > 0 {
		return sh.Size(1)
	}
	return tfgraph.NumClasses
}
