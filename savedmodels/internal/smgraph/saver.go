package smgraph

import (
	"errors"
	"sort"
	"strconv"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph"
)

// Saver holds the ops a TF1 tf.train.Saver would add, with its names, so every loader
// (the C++ one under TF Serving and Go, Python's load_v1_in_v2) restores the variables:
// feed the checkpoint prefix to save/Const:0 and run save/restore_all.
type Saver struct {
	Filename   tf.Output     // save/Const:0, a string scalar defaulting to "model"
	SaveTensor tf.Output     // save/control_dependency:0, runs SaveV2 and returns the prefix
	Restore    *tf.Operation // save/restore_all
}

// AddSaver adds SaveV2 / RestoreV2 over the variables (checkpoint keys = their Keras
// names, in sorted order) to s, a scope named "save".
func AddSaver(s *op.Scope, vars []*tfgraph.Variable, handles []tf.Output) (*Saver, error) {
	if len(vars) == 0 {
		return nil, errors.New("the model has no variables to save")
	}
	named := func(typ, name string, in []tf.Input, attrs map[string]any, deps ...*tf.Operation) *tf.Operation {
		return s.AddOperation(tf.OpSpec{Type: typ, Name: name, Input: in, Attrs: attrs, ControlDependencies: deps})
	}
	constant := func(name string, v any) tf.Output {
		t, err := tf.NewTensor(v)
		if err != nil {
			s.UpdateErr("Const", err)
			return tf.Output{}
		}
		return named("Const", name, nil, map[string]any{"dtype": t.DataType(), "value": t}).Output(0)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	scalar := tf.ScalarShape()
	fn := named("PlaceholderWithDefault", "filename", []tf.Input{constant("filename/input", "model")}, map[string]any{"dtype": tf.String, "shape": scalar}).Output(0)
	filename := named("PlaceholderWithDefault", "Const", []tf.Input{fn}, map[string]any{"dtype": tf.String, "shape": scalar}).Output(0)

	order := sortedVars(vars)
	names := make([]string, len(order))
	slices := make([]string, len(order))
	reads := make([]tf.Output, len(order))
	dtypes := make([]tf.DataType, len(order))
	for i, k := range order {
		names[i] = vars[k].Name
		dtypes[i] = tf.Float
		reads[i] = named("ReadVariableOp", "Read_"+strconv.Itoa(i), []tf.Input{handles[k]}, map[string]any{"dtype": tf.Float}).Output(0)
	}
	save := named("SaveV2", "SaveV2", []tf.Input{filename, constant("SaveV2/tensor_names", names), constant("SaveV2/shape_and_slices", slices), tf.OutputList(reads)}, nil)
	saveTensor := named("Identity", "control_dependency", []tf.Input{filename}, nil, save).Output(0)

	restored := named("RestoreV2", "RestoreV2", []tf.Input{filename, constant("RestoreV2/tensor_names", names), constant("RestoreV2/shape_and_slices", slices)}, map[string]any{"dtypes": dtypes})
	if err := s.Err(); err != nil {
		return nil, err
	}
	assigns := make([]*tf.Operation, len(order))
	for i, k := range order {
		id := named("Identity", "Identity_"+strconv.Itoa(i), []tf.Input{restored.Output(i)}, nil).Output(0)
		assigns[i] = named("AssignVariableOp", "AssignVariableOp_"+strconv.Itoa(i), []tf.Input{handles[k], id}, map[string]any{"dtype": tf.Float})
	}
	restore := named("NoOp", "restore_all", nil, nil, assigns...)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return &Saver{Filename: filename, SaveTensor: saveTensor, Restore: restore}, nil
}

// Def is the SaverDef a MetaGraphDef names the ops by.
func (sv *Saver) Def() *pb.SaverDef {
	return &pb.SaverDef{
		FilenameTensorName:        TensorName(sv.Filename),
		SaveTensorName:            TensorName(sv.SaveTensor),
		RestoreOpName:             sv.Restore.Name(),
		MaxToKeep:                 5,
		KeepCheckpointEveryNHours: 10000,
		Version:                   pb.SaverDef_V2,
	}
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
