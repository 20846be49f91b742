package tfserving

import (
	"context"
	"encoding/binary"
	"math"
	"net/http"
	"slices"

	pb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	corepb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	apis "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"
	errpb "github.com/wamuir/graft/tensorflow/tsl/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TensorFlow Serving's gRPC services (tensorflow_serving/apis/prediction_service.proto and
// model_service.proto), declared by hand over graft's message types: graft carries the
// messages but no stubs, and five methods do not justify a code generator in the build.
const (
	predictionService = "tensorflow.serving.PredictionService"
	modelService      = "tensorflow.serving.ModelService"
)

// Register registers PredictionService and ModelService on g over b.
func Register(g *grpc.Server, b protocol.Backend) {
	s := &service{b}
	g.RegisterService(&predictionServiceDesc, s)
	g.RegisterService(&modelServiceDesc, s)
}

var predictionServiceDesc = grpc.ServiceDesc{
	ServiceName: predictionService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		protocol.Unary(predictionService, "Predict", (*service).tfPredict),
		protocol.Unary(predictionService, "GetModelMetadata", (*service).tfMetadata),
		protocol.Unary(predictionService, "Classify", func(*service, context.Context, *apis.ClassificationRequest) (*apis.ClassificationResponse, error) {
			return nil, protocol.Errorf(http.StatusNotImplemented, "Classify: this model has no classify signature; call Predict (its probabilities and class_id)")
		}),
		protocol.Unary(predictionService, "Regress", func(*service, context.Context, *apis.RegressionRequest) (*apis.RegressionResponse, error) {
			return nil, protocol.Errorf(http.StatusNotImplemented, "Regress: this model has no regress signature; call Predict")
		}),
	},
	Metadata: "tensorflow_serving/apis/prediction_service.proto",
}

var modelServiceDesc = grpc.ServiceDesc{
	ServiceName: modelService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{protocol.Unary(modelService, "GetModelStatus", (*service).tfStatus)},
	Metadata:    "tensorflow_serving/apis/model_service.proto",
}

// specPath is the ModelPath a ModelSpec names (a version label is not supported: no
// labels are assigned).
func specPath(spec *apis.ModelSpec) (protocol.ModelPath, error) {
	if spec == nil {
		return protocol.ModelPath{}, protocol.BadRequest("missing model_spec")
	}
	p := protocol.ModelPath{Name: spec.GetName()}
	if spec.GetVersionLabel() != "" {
		return p, protocol.Errorf(http.StatusNotFound, "version_label %q: this server assigns no labels; give a version number or none", spec.GetVersionLabel())
	}
	if v := spec.GetVersion(); v != nil {
		if v.Value < 0 {
			return p, protocol.BadRequest("version %d is not a version number", v.Value)
		}
		p.Version = v.Value
	}
	return p, nil
}

func answerSpec(name string, version int64, signature string) *apis.ModelSpec {
	return &apis.ModelSpec{Name: name, SignatureName: signature,
		VersionChoice: &apis.ModelSpec_Version{Version: wrapperspb.Int64(version)}}
}

// tfPredict answers PredictionService.Predict: image_bytes (DT_STRING [N]) to
// serving_bytes, image (DT_FLOAT [N, S, S, 3]) to serving_default.
func (s *service) tfPredict(ctx context.Context, req *apis.PredictRequest) (*apis.PredictResponse, error) {
	p, err := specPath(req.GetModelSpec())
	if err != nil {
		return nil, err
	}
	sig := req.GetModelSpec().GetSignatureName()
	if sig == "" {
		sig = savedmodels.SignatureDefault
	}
	for _, name := range req.GetOutputFilter() {
		if name != savedmodels.OutputProbabilities && name != savedmodels.OutputClassID {
			return nil, protocol.BadRequest("output_filter: %q is not an output of %s; it has %s and %s", name, sig, savedmodels.OutputProbabilities, savedmodels.OutputClassID)
		}
	}
	out, err := s.b.Predict(ctx, p, func(size int) (*protocol.Input, error) {
		return tensorInput(sig, req.GetInputs(), size, s.b.MaxInstances())
	})
	if err != nil {
		return nil, err
	}
	outputs := map[string]*pb.TensorProto{
		savedmodels.OutputProbabilities: floatTensor(out.FlatProbs(), int64(len(out.Probs)), int64(out.Classes)),
		savedmodels.OutputClassID:       {Dtype: typespb.DataType_DT_INT64, TensorShape: shape(int64(len(out.IDs))), Int64Val: out.IDs64()},
	}
	if f := req.GetOutputFilter(); len(f) > 0 {
		for name := range outputs {
			if !slices.Contains(f, name) {
				delete(outputs, name)
			}
		}
	}
	return &apis.PredictResponse{ModelSpec: answerSpec(p.Name, out.Version, sig), Outputs: outputs}, nil
}

// tensorInput translates a PredictRequest's inputs for signature sig.
func tensorInput(sig string, inputs map[string]*pb.TensorProto, size, maxN int) (*protocol.Input, error) {
	name, perImage, err := protocol.SignatureInput(sig, size)
	if err != nil {
		return nil, err
	}
	t, ok := inputs[name]
	if !ok || len(inputs) != 1 {
		return nil, protocol.BadRequest("%s takes exactly one input, %q; got %d inputs", sig, name, len(inputs))
	}
	dims := t.GetTensorShape().GetDim()
	sh := make([]int64, len(dims))
	for i, d := range dims {
		sh[i] = d.GetSize()
	}
	in := &protocol.Input{Signature: sig}
	if sig == savedmodels.SignatureBytes {
		if t.GetDtype() != typespb.DataType_DT_STRING {
			return nil, protocol.BadRequest("input %q: dtype %s, want DT_STRING (encoded JPEG, PNG or DICOM files)", name, t.GetDtype())
		}
		if _, err := protocol.CheckShape("input "+name, sh, nil, len(t.GetStringVal()), maxN); err != nil {
			return nil, err
		}
		in.Files = t.GetStringVal()
		return in, nil
	}
	if t.GetDtype() != typespb.DataType_DT_FLOAT {
		return nil, protocol.BadRequest("input %q: dtype %s, want DT_FLOAT (preprocessed pixels; for image files use signature %s)", name, t.GetDtype(), savedmodels.SignatureBytes)
	}
	count := len(t.GetFloatVal())
	if raw := t.GetTensorContent(); len(raw) > 0 {
		if count > 0 || len(raw)%4 != 0 {
			return nil, protocol.BadRequest("input %q: tensor_content of %d bytes is not whole float32 values (or float_val given too)", name, len(raw))
		}
		count = len(raw) / 4
	}
	n, err := protocol.CheckShape("input "+name, sh, perImage, count, maxN)
	if err != nil {
		return nil, err
	}
	flat := t.GetFloatVal()
	if raw := t.GetTensorContent(); len(raw) > 0 {
		flat = make([]float32, count)
		for i := range flat {
			flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	in.Pixels = protocol.SplitPixels(flat, n)
	return in, nil
}

func shape(dims ...int64) *shapepb.TensorShapeProto {
	out := &shapepb.TensorShapeProto{}
	for _, d := range dims {
		out.Dim = append(out.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	return out
}

func floatTensor(v []float32, dims ...int64) *pb.TensorProto {
	return &pb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: shape(dims...), FloatVal: v}
}

// tfMetadata answers PredictionService.GetModelMetadata (signature_def, the only field
// TensorFlow Serving knows).
func (s *service) tfMetadata(ctx context.Context, req *apis.GetModelMetadataRequest) (*apis.GetModelMetadataResponse, error) {
	p, err := specPath(req.GetModelSpec())
	if err != nil {
		return nil, err
	}
	if len(req.GetMetadataField()) == 0 {
		return nil, protocol.BadRequest("GetModelMetadataRequest must specify at least one metadata_field")
	}
	for _, f := range req.GetMetadataField() {
		if f != "signature_def" {
			return nil, protocol.BadRequest("Metadata field %s is not supported", f)
		}
	}
	v, release, err := s.b.Acquire(p)
	if err != nil {
		return nil, err
	}
	defer release()
	sigs := make(map[string]*corepb.SignatureDef, len(v.Sigs))
	for name, sig := range v.Sigs {
		sigs[name] = sig
	}
	a, err := anypb.New(&apis.SignatureDefMap{SignatureDef: sigs})
	if err != nil {
		return nil, err
	}
	return &apis.GetModelMetadataResponse{ModelSpec: answerSpec(p.Name, v.N, ""), Metadata: map[string]*anypb.Any{"signature_def": a}}, nil
}

// tfStatus answers ModelService.GetModelStatus: every version aspired so far, with its state (Backend.Status).
func (s *service) tfStatus(ctx context.Context, req *apis.GetModelStatusRequest) (*apis.GetModelStatusResponse, error) {
	p, err := specPath(req.GetModelSpec())
	if err != nil {
		return nil, err
	}
	sts, err := s.b.Status(p)
	if err != nil {
		return nil, err
	}
	out := &apis.GetModelStatusResponse{}
	for _, st := range sts {
		out.ModelVersionStatus = append(out.ModelVersionStatus, &apis.ModelVersionStatus{
			Version: st.Version, State: apis.ModelVersionStatus_State(apis.ModelVersionStatus_State_value[st.State]),
			Status: &apis.StatusProto{ErrorCode: errpb.Code(errpb.Code_value[st.ErrorCode]), ErrorMessage: st.ErrorMessage},
		})
	}
	return out, nil
}
