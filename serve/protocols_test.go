package serve

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels"
)

// clientTol: the real clients' probabilities against savedmodels' Go Predict (what
// `xray predict` runs) on the same bytes: the same graph, batched differently.
const clientTol = 1e-6

// startGRPC serves s's gRPC API on a loopback port until the test ends.
func startGRPC(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeGRPC(ctx, ln, 10*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeGRPC: %v", err)
		}
	})
	return ln.Addr().String()
}

// goPredict is savedmodels' Go Predict on the fixture's files and pixels for version n,
// the reference the protocols must reproduce.
func (f *fixture) goPredict(t *testing.T, n int) (files, pixels []savedmodels.Prediction) {
	t.Helper()
	m, err := savedmodels.Load(f.versions[n].dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if files, err = m.PredictBytes(context.Background(), f.files...); err == nil {
		pixels, err = m.PredictPixels(context.Background(), f.pixels...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return files, pixels
}

type clientAnswer struct {
	Probabilities [][]float32 `json:"probabilities"`
	ClassID       []int64     `json:"class_id"`
	Version       any         `json:"version"`
}

type tritonSaw struct {
	Live       bool `json:"live"`
	Ready      bool `json:"ready"`
	ModelReady bool `json:"model_ready"`
	Metadata   struct {
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Inputs   []struct {
			Name, Datatype string
			Shape          []int64
		} `json:"inputs"`
		Outputs []struct {
			Name, Datatype string
			Shape          []int64
		} `json:"outputs"`
	} `json:"metadata"`
	Bytes          clientAnswer         `json:"bytes"`
	Pixels         clientAnswer         `json:"pixels"`
	DefaultOutputs [][]float32          `json:"default_outputs"`
	Errors         map[string][2]string `json:"errors"`
}

// clientsSaw is scripts/ref/serve_clients.py's answer.
type clientsSaw struct {
	TFServing struct {
		Bytes, Pixels clientAnswer
		Status        []struct {
			Version   int64  `json:"version"`
			State     string `json:"state"`
			ErrorCode int    `json:"error_code"`
		} `json:"status"`
		Metadata struct {
			Version    int64                                  `json:"version"`
			Signatures map[string]map[string]map[string][]any `json:"signatures"`
		} `json:"metadata"`
		Classify     string `json:"classify"`
		UnknownModel string `json:"unknown_model"`
	} `json:"tfserving"`
	V2HTTP tritonSaw `json:"v2http"`
	V2GRPC tritonSaw `json:"v2grpc"`
}

// runClients runs the real clients (tensorflow-serving-api, tritonclient HTTP and gRPC)
// against rest and grpc in one Python process.
func runClients(t *testing.T, f *fixture, rest, grpcAddr string) clientsSaw {
	t.Helper()
	dir := t.TempDir()
	raw := make([]byte, 0, 4*len(f.pixels)*len(f.pixels[0]))
	for _, p := range f.pixels {
		for _, v := range p {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	pixPath := filepath.Join(dir, "pixels.f32")
	cfgPath := filepath.Join(dir, "config.json")
	cfg, _ := json.Marshal(map[string]any{"rest": rest, "grpc": grpcAddr, "model": "xray", "files": f.paths, "pixels": pixPath, "size": size})
	if err := os.WriteFile(pixPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	var saw clientsSaw
	out := pyref.Run(t, pyref.Script("serve_clients.py"), cfgPath)
	if err := json.Unmarshal(out, &saw); err != nil {
		t.Fatalf("serve_clients.py: %v in %.2000s", err, out)
	}
	return saw
}

func checkAnswer(t *testing.T, what string, got clientAnswer, want []savedmodels.Prediction) {
	t.Helper()
	if len(got.Probabilities) != len(want) || len(got.ClassID) != len(want) {
		t.Fatalf("%s: %d probabilities and %d class ids for %d images", what, len(got.Probabilities), len(got.ClassID), len(want))
	}
	for i, p := range want {
		approx.Within(t, fmt.Sprintf("%s: image %d", what, i), got.Probabilities[i], p.Probabilities, approx.Abs, clientTol)
		if got.ClassID[i] != int64(p.Class) {
			t.Errorf("%s: image %d: class_id %d, Go Predict's %d", what, i, got.ClassID[i], p.Class)
		}
	}
	if fmt.Sprint(got.Version) != "2" {
		t.Errorf("%s: answered by version %v, want 2", what, got.Version)
	}
}

// TestRealClients: TensorFlow Serving's Python API over gRPC (Predict with DT_STRING image
// bytes to serving_bytes and DT_FLOAT pixels to serving_default, GetModelStatus,
// GetModelMetadata, Classify) and tritonclient over the Open Inference Protocol's HTTP and
// gRPC bindings (liveness, readiness, metadata, infer with BYTES and FP32, binary and JSON
// tensors) get savedmodels' Go Predict's probabilities for the same bytes, and the
// protocols' error codes for an unknown model or version and a wrong datatype or shape.
func TestRealClients(t *testing.T) {
	pyref.Require(t)
	f := newFixture(t, 1, 2)
	s, hs := f.start(t, Config{})
	saw := runClients(t, f, strings.TrimPrefix(hs.URL, "http://"), startGRPC(t, s))
	files, pixels := f.goPredict(t, 2)

	tfs := saw.TFServing
	checkAnswer(t, "TF Serving gRPC, serving_bytes", tfs.Bytes, files)
	checkAnswer(t, "TF Serving gRPC, serving_default", tfs.Pixels, pixels)
	if len(tfs.Status) != 1 || tfs.Status[0].Version != 2 || tfs.Status[0].State != "AVAILABLE" || tfs.Status[0].ErrorCode != 0 {
		t.Errorf("GetModelStatus: %+v, want version 2 AVAILABLE OK", tfs.Status)
	}
	sig := tfs.Metadata.Signatures
	if tfs.Metadata.Version != 2 || fmt.Sprint(sig["serving_bytes"]["inputs"]["image_bytes"]) != "[string [-1]]" ||
		fmt.Sprint(sig["serving_default"]["inputs"]["image"]) != fmt.Sprintf("[float32 [-1 %d %d 3]]", size, size) ||
		fmt.Sprint(sig["serving_default"]["outputs"]["class_id"]) != "[int64 [-1]]" {
		t.Errorf("GetModelMetadata: version %d, signatures %v", tfs.Metadata.Version, sig)
	}
	if tfs.Classify != "UNIMPLEMENTED" || tfs.UnknownModel != "NOT_FOUND" {
		t.Errorf("Classify answered %s (want UNIMPLEMENTED), an unknown model %s (want NOT_FOUND)", tfs.Classify, tfs.UnknownModel)
	}

	for _, c := range []struct {
		name                 string
		saw                  tritonSaw
		notFound, badRequest string
	}{{"v2 HTTP", saw.V2HTTP, "404", "400"}, {"v2 gRPC", saw.V2GRPC, "StatusCode.NOT_FOUND", "StatusCode.INVALID_ARGUMENT"}} {
		v := c.saw
		checkAnswer(t, c.name+", BYTES", v.Bytes, files)
		checkAnswer(t, c.name+", FP32", v.Pixels, pixels)
		for i, p := range files {
			approx.Within(t, fmt.Sprintf("%s, default outputs: image %d", c.name, i), v.DefaultOutputs[i], p.Probabilities, approx.Abs, clientTol)
		}
		md := v.Metadata
		if !v.Live || !v.Ready || !v.ModelReady || md.Name != "xray" || fmt.Sprint(md.Versions) != "[2]" || len(md.Inputs) != 2 ||
			md.Inputs[0].Name != "image_bytes" || md.Inputs[0].Datatype != "BYTES" || md.Inputs[1].Datatype != "FP32" ||
			fmt.Sprint(md.Outputs) != "[{probabilities FP32 [-1 2]} {class_id INT64 [-1]}]" {
			t.Errorf("%s: live %v ready %v model ready %v, metadata %+v", c.name, v.Live, v.Ready, v.ModelReady, md)
		}
		for cse, want := range map[string]string{"unknown_model": c.notFound, "unknown_version": c.notFound,
			"wrong_datatype": c.badRequest, "wrong_shape": c.badRequest} {
			if got := v.Errors[cse]; got[0] != want || got[1] == "" {
				t.Errorf("%s: %s: status %q %q, want %s with a message", c.name, cse, got[0], got[1], want)
			}
		}
	}
}
