package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	apis "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"
	"github.com/xraylab/xray/internal/approx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestServeGRPCMatchesPredict: `xray serve --grpc-addr` answers TensorFlow Serving's gRPC
// Predict with `xray predict`'s probabilities for the same files, and SIGTERM stops both
// listeners with exit 0.
func TestServeGRPCMatchesPredict(t *testing.T) {
	dir, files, _ := predictFixture(t)
	code, stdout, stderr := runCLI(t, append([]string{"predict", "--json", "--savedmodel", dir}, files...)...)
	if code != exitOK {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	var want [][]float32
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var p struct{ Probabilities []float32 }
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p.Probabilities)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, logs, exit := startServe(t, "--model-dir", dir, "--grpc-addr", addr, "--log-format", "json")

	var images [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, b)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := &apis.PredictRequest{ModelSpec: &apis.ModelSpec{Name: "xray", SignatureName: "serving_bytes"},
		Inputs: map[string]*tensorpb.TensorProto{"image_bytes": {Dtype: typespb.DataType_DT_STRING,
			TensorShape: &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: int64(len(images))}}}, StringVal: images}}}
	var resp apis.PredictResponse
	if err := conn.Invoke(context.Background(), "/tensorflow.serving.PredictionService/Predict", req, &resp); err != nil {
		t.Fatalf("gRPC Predict: %v\n%s", err, logs)
	}
	probs := resp.Outputs["probabilities"].GetFloatVal()
	if len(probs) != len(want)*len(want[0]) {
		t.Fatalf("gRPC Predict: %d probabilities for %d files", len(probs), len(want))
	}
	for i := range want {
		n := len(want[i])
		approx.Within(t, fmt.Sprintf("%s: gRPC vs xray predict", files[i]), probs[i*n:(i+1)*n], want[i], approx.Abs, 1e-6)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != exitOK {
			t.Errorf("exit %d after SIGTERM: %s", code, logs)
		}
	case <-time.After(time.Minute):
		t.Fatal("xray serve did not stop within a minute of SIGTERM")
	}
	for _, want := range []string{`"msg":"listening for gRPC"`, `"path":"/tensorflow.serving.PredictionService/Predict","status":"OK"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("JSON log lacks %s:\n%s", want, logs)
		}
	}
}
