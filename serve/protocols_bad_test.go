package serve

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	apis "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"
	"github.com/xraylab/xray/serve/inferencepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func predictReq(sig, key string, tensor *pb.TensorProto) *apis.PredictRequest {
	return &apis.PredictRequest{ModelSpec: &apis.ModelSpec{Name: "xray", SignatureName: sig}, Inputs: map[string]*pb.TensorProto{key: tensor}}
}

func stringTensor(files ...[]byte) *pb.TensorProto {
	return &pb.TensorProto{Dtype: typespb.DataType_DT_STRING, TensorShape: shape(int64(len(files))), StringVal: files}
}

// shape and floatTensor build TensorProtos as a TensorFlow Serving client does.
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

// rawBytes is a BYTES tensor's binary form (4-byte little-endian length, then the bytes).
func rawBytes(files ...[]byte) []byte {
	var out []byte
	for _, f := range files {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

// TestProtocolsBadInput: hostile and mistaken requests to the gRPC services and the v2
// REST routes get the protocol's error code with a message naming the problem, never a
// crash; a good request still succeeds afterwards.
func TestProtocolsBadInput(t *testing.T) {
	f := newFixture(t, 1)
	var logs syncBuffer
	s, hs := f.start(t, Config{MaxBodyBytes: 1 << 20, MaxInstances: 4, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	conn := dial(t, startGRPC(t, s))
	ctx := context.Background()
	predict := "/tensorflow.serving.PredictionService/Predict"
	infer := "/inference.GRPCInferenceService/ModelInfer"
	px := f.pixels[0]
	v1 := &apis.ModelSpec{Name: "xray", VersionChoice: &apis.ModelSpec_Version{Version: wrapperspb.Int64(7)}}
	grpcCases := []struct {
		name, method string
		req          proto.Message
		code         codes.Code
		words        string
	}{
		{"oversized message", predict, predictReq("serving_bytes", "image_bytes", stringTensor(make([]byte, 2<<20))), codes.ResourceExhausted, "larger than max"},
		{"wrong dtype", predict, predictReq("serving_default", "image", &pb.TensorProto{Dtype: typespb.DataType_DT_INT32, TensorShape: shape(1, size, size, 3), IntVal: make([]int32, size*size*3)}), codes.InvalidArgument, "DT_FLOAT"},
		{"wrong shape", predict, predictReq("serving_default", "image", floatTensor(px, 1, size, size-1, 3)), codes.InvalidArgument, "shape"},
		{"values short of shape", predict, predictReq("serving_default", "image", floatTensor(px[:10], 1, size, size, 3)), codes.InvalidArgument, "values"},
		{"huge claimed batch", predict, predictReq("serving_default", "image", floatTensor(px, 1<<40, size, size, 3)), codes.InvalidArgument, "limit of 4"},
		{"too many images", predict, predictReq("serving_bytes", "image_bytes", stringTensor(f.files[0], f.files[0], f.files[0], f.files[0], f.files[0])), codes.InvalidArgument, "limit of 4"},
		{"wrong input name", predict, predictReq("serving_bytes", "image", stringTensor(f.files[0])), codes.InvalidArgument, "image_bytes"},
		{"unknown signature", predict, predictReq("nope", "image", stringTensor(f.files[0])), codes.InvalidArgument, "nope"},
		{"not an image", predict, predictReq("serving_bytes", "image_bytes", stringTensor([]byte("hello"))), codes.InvalidArgument, "instance 0"},
		{"empty image", predict, predictReq("serving_bytes", "image_bytes", stringTensor([]byte{})), codes.InvalidArgument, "empty"},
		{"unknown model", predict, &apis.PredictRequest{ModelSpec: &apis.ModelSpec{Name: "nope"}}, codes.NotFound, "nope"},
		{"unknown version", "/tensorflow.serving.ModelService/GetModelStatus", &apis.GetModelStatusRequest{ModelSpec: v1}, codes.NotFound, "7"},
		{"no metadata field", "/tensorflow.serving.PredictionService/GetModelMetadata", &apis.GetModelMetadataRequest{ModelSpec: &apis.ModelSpec{Name: "xray"}}, codes.InvalidArgument, "metadata_field"},
		{"regress", "/tensorflow.serving.PredictionService/Regress", &apis.RegressionRequest{}, codes.Unimplemented, "Predict"},
		{"v2 truncated BYTES", infer, &inferencepb.ModelInferRequest{ModelName: "xray", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "image_bytes", Datatype: "BYTES", Shape: []int64{1}}},
			RawInputContents: [][]byte{rawBytes(f.files[0])[:100]}}, codes.InvalidArgument, "remain"},
		{"v2 raw count", infer, &inferencepb.ModelInferRequest{ModelName: "xray", RawInputContents: [][]byte{{1}}}, codes.InvalidArgument, "raw_input_contents"},
		{"v2 two inputs", infer, &inferencepb.ModelInferRequest{ModelName: "xray", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "image"}, {Name: "image_bytes"}}}, codes.InvalidArgument, "exactly one"},
		{"v2 unknown output", infer, &inferencepb.ModelInferRequest{ModelName: "xray", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "image_bytes", Datatype: "BYTES", Shape: []int64{1}}},
			RawInputContents: [][]byte{rawBytes(f.files[0])}, Outputs: []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "logits"}}}, codes.InvalidArgument, "logits"},
		{"v2 bad version", "/inference.GRPCInferenceService/ModelReady", &inferencepb.ModelReadyRequest{Name: "xray", Version: "x"}, codes.InvalidArgument, "not a number"},
	}
	for _, c := range grpcCases {
		resp := proto.Clone(c.req) // any message: only the error is read
		err := conn.Invoke(ctx, c.method, c.req, resp)
		st, _ := status.FromError(err)
		if st.Code() != c.code || !strings.Contains(st.Message(), c.words) {
			t.Errorf("gRPC %s: %v %q, want %v naming %q", c.name, st.Code(), st.Message(), c.code, c.words)
		}
	}

	url := hs.URL + "/v2/models/xray"
	restCases := []struct {
		name, url, header, body string
		code                    int
		words                   string
	}{
		{"not JSON", url + "/infer", "", "{", 400, "not a v2 inference request"},
		{"inputs not a list", url + "/infer", "", `{"inputs": {"a": 1}}`, 400, "field"},
		{"unknown model", hs.URL + "/v2/models/nope/infer", "", `{"inputs":[]}`, 404, "nope"},
		{"unknown version", url + "/versions/9/ready", "", "", 404, "9"},
		{"wrong datatype", url + "/infer", "", `{"inputs":[{"name":"image","datatype":"INT8","shape":[1],"data":[1]}]}`, 400, "INT8"},
		{"FP32 beyond shape", url + "/infer", "", `{"inputs":[{"name":"image","datatype":"FP32","shape":[1,2],"data":[1,2,3]}]}`, 400, "more FP32 values"},
		{"FP32 object", url + "/infer", "", `{"inputs":[{"name":"image","datatype":"FP32","shape":[1],"data":[{"a":1}]}]}`, 400, "numbers"},
		{"BYTES numbers", url + "/infer", "", `{"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[1],"data":[1]}]}`, 400, "strings"},
		{"header length beyond body", url + "/infer", "999", `{}`, 400, "Inference-Header-Content-Length"},
		{"binary size beyond body", url + "/infer", "json", `{"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":50}}]}xx`, 400, "binary_data_size"},
		{"no data", url + "/infer", "", `{"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[1]}]}`, 400, "no \"data\""},
		{"oversized body", url + "/infer", "", `{"inputs":[{"name":"image","datatype":"FP32","shape":[1],"data":[` + strings.Repeat("0,", 600_000) + `0]}]}`, 413, "limit"},
	}
	for _, c := range restCases {
		method := "POST"
		if c.body == "" {
			method = "GET"
		}
		req, _ := http.NewRequest(method, c.url, strings.NewReader(c.body))
		if c.header == "json" { // the JSON part: all but the 2 binary bytes
			c.header = strconv.Itoa(len(c.body) - 2)
		}
		if c.header != "" {
			req.Header.Set("Inference-Header-Content-Length", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		jerr := json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.code || jerr != nil || !strings.Contains(e.Error, c.words) {
			t.Errorf("v2 REST %s: %d %q (%v), want %d {\"error\"} naming %q", c.name, resp.StatusCode, e.Error, jerr, c.code, c.words)
		}
	}

	// Still up: a good call after all of the above.
	var resp apis.PredictResponse
	if err := conn.Invoke(ctx, predict, predictReq("serving_bytes", "image_bytes", stringTensor(f.files[0])), &resp); err != nil || len(resp.Outputs) != 2 {
		t.Errorf("a good Predict after the bad ones: %v, %d outputs", err, len(resp.Outputs))
	}
	// gRPC calls are counted and logged as REST requests are.
	_, metrics := do(t, "GET", hs.URL+"/metrics", "", nil, nil)
	for _, want := range []string{`xray_grpc_requests_total{code="InvalidArgument",method="Predict"} 9`, `xray_grpc_requests_total{code="OK",method="Predict"} 1`, `xray_http_requests_total{code="413",handler="v2_infer"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(logs.String(), "path=/tensorflow.serving.PredictionService/Predict status=InvalidArgument") {
		t.Errorf("no access log line for the gRPC calls:\n%.3000s", logs.String())
	}
}
