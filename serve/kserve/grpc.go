package kserve

import (
	"context"
	"strconv"

	pb "github.com/xraylab/xray/serve/inferencepb"
	"github.com/xraylab/xray/serve/protocol"
	"google.golang.org/grpc"
)

// The Open Inference Protocol's gRPC binding: inference.GRPCInferenceService, declared
// by hand (as TensorFlow Serving's services) over the types generated from
// inferencepb/open_inference_grpc.proto.
const inferenceService = "inference.GRPCInferenceService"

// Register registers GRPCInferenceService on g over b.
func Register(g *grpc.Server, b protocol.Backend) {
	g.RegisterService(&inferenceServiceDesc, &service{b})
}

var inferenceServiceDesc = grpc.ServiceDesc{
	ServiceName: inferenceService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		protocol.Unary(inferenceService, "ServerLive", func(*service, context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
			return &pb.ServerLiveResponse{Live: true}, nil
		}),
		protocol.Unary(inferenceService, "ServerReady", func(s *service, _ context.Context, _ *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
			return &pb.ServerReadyResponse{Ready: s.b.Ready()}, nil
		}),
		protocol.Unary(inferenceService, "ModelReady", (*service).v2GRPCModelReady),
		protocol.Unary(inferenceService, "ServerMetadata", func(*service, context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
			name, version, ext := v2ServerMeta()
			return &pb.ServerMetadataResponse{Name: name, Version: version, Extensions: ext}, nil
		}),
		protocol.Unary(inferenceService, "ModelMetadata", (*service).v2GRPCMetadata),
		protocol.Unary(inferenceService, "ModelInfer", (*service).v2GRPCInfer),
	},
	Metadata: "open_inference_grpc.proto",
}

func v2GRPCPath(name, version string) (protocol.ModelPath, error) {
	n, err := protocol.ParseVersion(version)
	return protocol.ModelPath{Name: name, Version: n}, err
}

func (s *service) v2GRPCModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	p, err := v2GRPCPath(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	if err := s.v2ModelReady(p); err != nil {
		return nil, err
	}
	return &pb.ModelReadyResponse{Ready: true}, nil
}

func (s *service) v2GRPCMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	p, err := v2GRPCPath(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	m, err := s.v2Metadata(p)
	if err != nil {
		return nil, err
	}
	conv := func(ts []v2TensorMeta) []*pb.ModelMetadataResponse_TensorMetadata {
		out := make([]*pb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &pb.ModelMetadataResponse{Name: m.Name, Versions: m.Versions, Platform: m.Platform, Inputs: conv(m.Inputs), Outputs: conv(m.Outputs)}, nil
}

// v2GRPCInfer answers ModelInfer. Inputs come in contents or, as tritonclient sends
// them, raw_input_contents (one per input, in order); outputs go back in
// raw_output_contents, as Triton answers.
func (s *service) v2GRPCInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	p, err := v2GRPCPath(req.GetModelName(), req.GetModelVersion())
	if err != nil {
		return nil, err
	}
	raw := req.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(req.GetInputs()) {
		return nil, protocol.BadRequest("%d raw_input_contents for %d inputs: give one per input, or use contents", len(raw), len(req.GetInputs()))
	}
	tensors := make([]v2Tensor, len(req.GetInputs()))
	for i, in := range req.GetInputs() {
		t := v2Tensor{name: in.GetName(), datatype: in.GetDatatype(), shape: in.GetShape()}
		switch {
		case len(raw) > 0 && t.datatype == v2Bytes:
			t.bytes, err = rawBytesElements(raw[i], s.b.MaxInstances())
		case len(raw) > 0 && t.datatype == v2FP32:
			t.fp32, err = rawFP32(raw[i])
		default:
			t.bytes, t.fp32 = in.GetContents().GetBytesContents(), in.GetContents().GetFp32Contents()
		}
		if err != nil {
			return nil, protocol.BadRequest("input %q: %v", t.name, err)
		}
		tensors[i] = t
	}
	out, err := s.b.Predict(ctx, p, func(size int) (*protocol.Input, error) { return v2Input(tensors, size, s.b.MaxInstances()) })
	if err != nil {
		return nil, err
	}
	names := make([]string, len(req.GetOutputs()))
	for i, o := range req.GetOutputs() {
		names[i] = o.GetName()
	}
	outs, err := v2Outputs(out, names)
	if err != nil {
		return nil, err
	}
	resp := &pb.ModelInferResponse{ModelName: p.Name, ModelVersion: strconv.FormatInt(out.Version, 10), Id: req.GetId()}
	for _, o := range outs {
		resp.Outputs = append(resp.Outputs, &pb.ModelInferResponse_InferOutputTensor{Name: o.name, Datatype: o.datatype, Shape: o.shape})
		resp.RawOutputContents = append(resp.RawOutputContents, o.raw())
	}
	return resp, nil
}
