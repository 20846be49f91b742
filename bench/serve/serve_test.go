// Package serve benchmarks `xray serve` (package serve) against a Python reference server
// (scripts/ref/serve_ref.py: a threaded HTTP server and a grpcio server running the same
// SavedModel's serving_bytes with the same batching limits) in the same run, on loopback:
// real X-ray JPEGs, one per request, from 1, 8 and 32 concurrent clients, over four
// protocols: TensorFlow Serving's REST predict (b64 JSON) and gRPC Predict (DT_STRING),
// the Open Inference Protocol's REST infer (BYTES in Triton's binary tensor data, as
// tritonclient sends) and gRPC ModelInfer (raw_input_contents). gRPC clients share one
// connection per run (HTTP/2 streams), REST clients one keep-alive connection each. It
// prints throughput and p50 / p99 latency for both servers and the ratios. Not part of
// the tests (benchmarks only run with -bench):
//
//	source scripts/env.sh
//	go test ./bench/serve -run '^$' -bench . -benchtime 1x
//
// XRAY_BENCH_MODEL is a SavedModel directory (default: an untrained MobileNet at 224 px,
// exported to a temporary directory; the network's cost is the same trained or not);
// XRAY_BENCH_DATA any Kermany tree (default testdata/chest_xray); XRAY_BENCH_REQUESTS the
// requests per client (default 10); XRAY_BENCH_CLIENTS the client counts (default 1,8,32);
// XRAY_BENCH_MAX_DELAY the batching wait of both servers (default 5ms, xray serve's). Each
// run is bounded by its request count and by a minute; XRAY_BENCH_PROTOCOLS picks
// protocols (default rest,grpc,v2,v2grpc).
package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	apis "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"
	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/serve"
	"github.com/xraylab/xray/serve/inferencepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	maxBatch = 32
	runLimit = time.Minute
)

// maxDelay is xray serve's default batching wait, or XRAY_BENCH_MAX_DELAY.
var maxDelay = 5 * time.Millisecond

func BenchmarkServe(b *testing.B) {
	model := benchModel(b)
	files := benchFiles(b)
	perClient := 10
	if s := os.Getenv("XRAY_BENCH_MAX_DELAY"); s != "" {
		var err error
		if maxDelay, err = time.ParseDuration(s); err != nil {
			b.Fatalf("XRAY_BENCH_MAX_DELAY=%q: %v", s, err)
		}
	}
	levels := []int{1, 8, 32}
	if s := os.Getenv("XRAY_BENCH_CLIENTS"); s != "" {
		levels = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				b.Fatalf("XRAY_BENCH_CLIENTS=%q: give client counts like 1,8,32", s)
			}
			levels = append(levels, n)
		}
	}
	if s := os.Getenv("XRAY_BENCH_REQUESTS"); s != "" {
		var err error
		if perClient, err = strconv.Atoi(s); err != nil || perClient < 1 {
			b.Fatalf("XRAY_BENCH_REQUESTS=%q: give a positive number", s)
		}
	}
	protos := []string{"rest", "grpc", "v2", "v2grpc"}
	if s := os.Getenv("XRAY_BENCH_PROTOCOLS"); s != "" {
		protos = strings.Split(s, ",")
	}
	servers := []struct {
		name string
		addr addrs
	}{{"xray serve", startXray(b, model)}, {"python", startPython(b, model)}}
	for range b.N {
		fmt.Printf("%d requests per client, one %d-image rotation of X-ray JPEGs, max batch %d, max delay %s\n",
			perClient, len(files), maxBatch, maxDelay)
		fmt.Printf("%-7s %-8s %-11s %9s %9s %9s\n", "proto", "clients", "server", "req/s", "p50 ms", "p99 ms")
		for _, proto := range protos {
			for _, clients := range levels {
				var res [2]result
				for i, s := range servers {
					call := caller(b, proto, s.addr, files, clients)
					run(b, call, len(files), clients, 2*clients) // warm-up: connections, batch shapes
					res[i] = run(b, call, len(files), clients, perClient*clients)
					fmt.Printf("%-7s %-8d %-11s %9.1f %9.1f %9.1f\n", proto, clients, s.name, res[i].rate, ms(res[i].p50), ms(res[i].p99))
				}
				fmt.Printf("%-7s %-8d %-11s %8.2fx %8.2fx %8.2fx  (xray / python; latency: lower is better)\n", proto, clients, "ratio",
					res[0].rate/res[1].rate, res[0].p50.Seconds()/res[1].p50.Seconds(), res[0].p99.Seconds()/res[1].p99.Seconds())
				if clients == 32 {
					b.ReportMetric(res[0].rate/res[1].rate, "x_throughput_32_"+proto)
				}
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchModel is XRAY_BENCH_MODEL or an untrained MobileNet exported at 224 px.
func benchModel(b *testing.B) string {
	b.Helper()
	if dir := os.Getenv("XRAY_BENCH_MODEL"); dir != "" {
		return dir
	}
	return benchutil.UntrainedModel(b, 224)
}

// benchFiles are X-ray JPEGs, one per request.
func benchFiles(b *testing.B) [][]byte {
	b.Helper()
	root := os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray")
	}
	files, err := filepath.Glob(filepath.Join(root, "*", "*", "*.jpeg"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no X-ray JPEGs under %s/*/*/: %v", root, err)
	}
	var out [][]byte
	for _, f := range files[:min(len(files), 64)] {
		img, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

// addrs are a server's REST base URL and gRPC address.
type addrs struct{ http, grpc string }

// startXray serves model in this process on loopback ports (REST and gRPC) until the
// benchmark ends.
func startXray(b *testing.B, model string) addrs {
	b.Helper()
	s, err := serve.New(serve.Config{ModelDir: model, MaxBatch: maxBatch, MaxDelay: maxDelay, MaxConcurrent: 256,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- s.Serve(ctx, ln, 10*time.Second) }()
	go func() { done <- s.ServeGRPC(ctx, gln, 10*time.Second) }()
	b.Cleanup(func() { cancel(); <-done; <-done })
	return addrs{"http://" + ln.Addr().String(), gln.Addr().String()}
}

// startPython runs scripts/ref/serve_ref.py on model until the benchmark ends.
func startPython(b *testing.B, model string) addrs {
	b.Helper()
	cmd := exec.Command(pyref.Require(b), pyref.Script("serve_ref.py"), model, strconv.Itoa(maxBatch), strconv.FormatInt(maxDelay.Milliseconds(), 10))
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "PORT" {
		b.Fatalf("serve_ref.py did not start: %q %v: %s", line, err, stderr.String())
	}
	return addrs{"http://127.0.0.1:" + f[1], "127.0.0.1:" + f[2]}
}

// caller returns the request of one protocol for file i, for the given clients.
func caller(b *testing.B, proto string, a addrs, files [][]byte, clients int) func(i int) error {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: runLimit}
	b.Cleanup(client.CloseIdleConnections)
	var conn *grpc.ClientConn
	if strings.Contains(proto, "grpc") {
		var err error
		if conn, err = grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
	}
	ctx := context.Background()
	switch proto {
	case "rest":
		bodies := make([][]byte, len(files))
		for i, img := range files {
			bodies[i], _ = json.Marshal(map[string]any{"signature_name": "serving_bytes",
				"instances": []map[string]string{{"b64": base64.StdEncoding.EncodeToString(img)}}})
		}
		return func(i int) error { return restPredict(client, a.http+"/v1/models/xray:predict", bodies[i], "") }
	case "v2":
		bodies, heads := make([][]byte, len(files)), make([]string, len(files))
		for i, img := range files {
			raw := binary.LittleEndian.AppendUint32(nil, uint32(len(img)))
			raw = append(raw, img...)
			head, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "image_bytes", "datatype": "BYTES", "shape": []int{1},
				"parameters": map[string]int{"binary_data_size": len(raw)}}}})
			bodies[i], heads[i] = append(head, raw...), strconv.Itoa(len(head))
		}
		return func(i int) error { return restPredict(client, a.http+"/v2/models/xray/infer", bodies[i], heads[i]) }
	case "grpc":
		return func(i int) error {
			req := &apis.PredictRequest{ModelSpec: &apis.ModelSpec{Name: "xray", SignatureName: "serving_bytes"},
				Inputs: map[string]*tensorpb.TensorProto{"image_bytes": {Dtype: typespb.DataType_DT_STRING,
					TensorShape: &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: 1}}}, StringVal: [][]byte{files[i]}}}}
			var resp apis.PredictResponse
			if err := conn.Invoke(ctx, "/tensorflow.serving.PredictionService/Predict", req, &resp); err != nil {
				return err
			}
			if p := resp.Outputs["probabilities"]; p == nil || (len(p.FloatVal) == 0 && len(p.TensorContent) == 0) {
				return fmt.Errorf("Predict: no probabilities")
			}
			return nil
		}
	case "v2grpc":
		return func(i int) error {
			raw := binary.LittleEndian.AppendUint32(nil, uint32(len(files[i])))
			req := &inferencepb.ModelInferRequest{ModelName: "xray", RawInputContents: [][]byte{append(raw, files[i]...)},
				Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "image_bytes", Datatype: "BYTES", Shape: []int64{1}}}}
			var resp inferencepb.ModelInferResponse
			if err := conn.Invoke(ctx, "/inference.GRPCInferenceService/ModelInfer", req, &resp); err != nil {
				return err
			}
			if len(resp.RawOutputContents) != 2 {
				return fmt.Errorf("ModelInfer: %d outputs", len(resp.RawOutputContents))
			}
			return nil
		}
	}
	b.Fatalf("XRAY_BENCH_PROTOCOLS: unknown protocol %q: give rest, grpc, v2, v2grpc", proto)
	return nil
}

type result struct {
	rate     float64 // requests per second
	p50, p99 time.Duration
}

// run makes n calls (file i mod files) from the given number of clients (or as many as
// fit in runLimit) and measures them; any failure ends the benchmark.
func run(b *testing.B, call func(i int) error, files, clients, n int) result {
	b.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failure error
	deadline := time.Now().Add(runLimit)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				err := call(int(i % int64(files)))
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && failure == nil {
					failure = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failure != nil {
		b.Fatal(failure)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return result{rate: float64(len(lat)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}
}

// restPredict posts one body (with the v2 binary header length when given) and checks
// that an answer with probabilities came back.
func restPredict(client *http.Client, url string, body []byte, headerLen string) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if headerLen != "" {
		req.Header.Set("Inference-Header-Content-Length", headerLen)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Predictions []struct{ Probabilities []float32 } `json:"predictions"`
		Outputs     []struct{ Name string }             `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Predictions)+len(out.Outputs) == 0 {
		return fmt.Errorf("%s: %s, %v", url, resp.Status, err)
	}
	return nil
}
