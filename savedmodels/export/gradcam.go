package export

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
)

// addGradCAM adds the heatmap of the imported network's feature map, for the class fed
// to gradcam/class (by default class_id), to the export graph.
func (e *exportGraph) addGradCAM(s *op.Scope, m *tfgraph.Model, size int) error {
	imported := func(o tf.Output) (tf.Output, error) {
		if o.Op == nil {
			return tf.Output{}, fmt.Errorf("grad-cam: the model has no feature map (Model.Features)")
		}
		op := e.graph.Operation(o.Op.Name())
		if op == nil {
			return tf.Output{}, fmt.Errorf("grad-cam: %s is not on the inference path", o.Op.Name())
		}
		return op.Output(o.Index), nil
	}
	layer, err := m.LayerOutput(tfgraph.DefaultLayer(tfgraph.DefaultCAM, m.Config.Arch))
	if err != nil {
		return fmt.Errorf("grad-cam: %w", err)
	}
	feat, err := imported(layer)
	if err != nil {
		return err
	}
	logits, err := imported(m.Logits)
	if err != nil {
		return err
	}
	gs := s.SubScope(smgraph.GradCAMScope)
	e.gradClass = op.PlaceholderWithDefault(gs.SubScope("class"), e.classID, tf.MakeShape(-1))
	e.layerOutputs = []string{smgraph.LogitsKey + "\t" + smgraph.TensorName(logits)}
	for _, l := range m.Layers {
		if out, err := m.LayerOutput(l.Name); err == nil && len(l.OutputShape) == 3 && e.graph.Operation(out.Op.Name()) != nil {
			e.layerOutputs = append(e.layerOutputs, l.Name+"\t"+smgraph.TensorName(out))
		}
	}
	if name := e.gradClass.Op.Name(); name != smgraph.GradCAMClassOp {
		return fmt.Errorf("grad-cam: class input named %s, Load looks for %s", name, smgraph.GradCAMClassOp)
	}
	e.heatmap, err = tfgraph.AddCAM(gs, tfgraph.DefaultCAM, logits, feat, e.gradClass, size)
	return err
}

// gradcamSignature is serving_bytes plus the heatmap, float32 [-1, S, S].
func (e *exportGraph) gradcamSignature() *pb.SignatureDef {
	sig := e.signature(savedmodels.InputImageBytes, e.bytes, typespb.DataType_DT_STRING)
	size := e.input.Shape().Size(1)
	sig.Outputs[savedmodels.OutputHeatmap] = smgraph.TensorInfo(e.heatmap, typespb.DataType_DT_FLOAT, smgraph.ShapeProto(-1, size, size))
	return sig
}

// collections are the variables' collections plus the layer outputs.
func (e *exportGraph) collections(gdef *gpb.GraphDef) map[string]*pb.CollectionDef {
	cols := e.variableCollections(gdef)
	var list [][]byte
	for _, l := range e.layerOutputs {
		list = append(list, []byte(l))
	}
	cols[smgraph.LayerCollection] = smgraph.BytesCollection(list)
	return cols
}
