package smgraph

import (
	"fmt"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
)

// BytesCollection is a collection of serialized protos (VariableDefs).
func BytesCollection(v [][]byte) *pb.CollectionDef {
	return &pb.CollectionDef{Kind: &pb.CollectionDef_BytesList_{BytesList: &pb.CollectionDef_BytesList{Value: v}}}
}

// TensorName is o as "op:index".
func TensorName(o tf.Output) string { return fmt.Sprintf("%s:%d", o.Op.Name(), o.Index) }

// TensorInfo describes o for a SignatureDef.
func TensorInfo(o tf.Output, dtype typespb.DataType, shape *shapepb.TensorShapeProto) *pb.TensorInfo {
	return &pb.TensorInfo{Encoding: &pb.TensorInfo_Name{Name: TensorName(o)}, Dtype: dtype, TensorShape: shape}
}

// ShapeProto is a shape of the given dimensions (-1: unknown).
func ShapeProto(dims ...int64) *shapepb.TensorShapeProto {
	s := &shapepb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	return s
}

// TypeAttr is a NodeDef attribute holding the type t.
func TypeAttr(t typespb.DataType) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: t}}
}

// TypeListAttr is a NodeDef attribute holding the types ts.
func TypeListAttr(ts ...typespb.DataType) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{Type: ts}}}
}

// TensorByName finds "op:index" in g.
func TensorByName(g *tf.Graph, name string) (tf.Output, error) {
	opName, idx, err := ParseTensorName(name)
	if err != nil {
		return tf.Output{}, err
	}
	o := g.Operation(opName)
	if o == nil || idx >= o.NumOutputs() {
		return tf.Output{}, fmt.Errorf("tensor %q not in the graph", name)
	}
	return o.Output(idx), nil
}

// ParseTensorName splits "op:index" (index 0 when absent).
func ParseTensorName(name string) (op string, idx int, err error) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return name, 0, nil
	}
	if idx, err = strconv.Atoi(name[i+1:]); err != nil {
		return "", 0, fmt.Errorf("bad tensor name %q", name)
	}
	return name[:i], idx, nil
}
