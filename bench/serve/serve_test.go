// Package serve benchmarks `xray serve` (package serve) against a Python reference server
// (scripts/ref/serve_ref.py: a threaded HTTP server running the same SavedModel's
// serving_bytes with the same batching limits) in the same run, on loopback: real X-ray
// JPEGs, one per TensorFlow Serving REST predict request, from 1, 8 and 32 concurrent
// clients. It prints throughput and p50 / p99 latency for both and the ratios. Not part of
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
// run is bounded by its request count and by a minute.
package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
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

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/serve"
)

const (
	maxBatch = 32
	runLimit = time.Minute
)

// maxDelay is xray serve's default batching wait, or XRAY_BENCH_MAX_DELAY.
var maxDelay = 5 * time.Millisecond

func BenchmarkServe(b *testing.B) {
	model := benchModel(b)
	bodies := benchBodies(b)
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
	servers := []struct{ name, url string }{{"xray serve", startXray(b, model)}, {"python", startPython(b, model)}}
	for range b.N {
		fmt.Printf("%d requests per client, one %d-image rotation of X-ray JPEGs, max batch %d, max delay %s\n",
			perClient, len(bodies), maxBatch, maxDelay)
		fmt.Printf("%-8s %-11s %9s %9s %9s\n", "clients", "server", "req/s", "p50 ms", "p99 ms")
		for _, clients := range levels {
			var res [2]result
			for i, s := range servers {
				run(b, s.url, bodies, clients, 2*clients) // warm-up: connections, batch shapes
				res[i] = run(b, s.url, bodies, clients, perClient*clients)
				fmt.Printf("%-8d %-11s %9.1f %9.1f %9.1f\n", clients, s.name, res[i].rate, ms(res[i].p50), ms(res[i].p99))
			}
			fmt.Printf("%-8d %-11s %8.2fx %8.2fx %8.2fx  (xray / python; latency: lower is better)\n", clients, "ratio",
				res[0].rate/res[1].rate, res[0].p50.Seconds()/res[1].p50.Seconds(), res[0].p99.Seconds()/res[1].p99.Seconds())
			if clients == 32 {
				b.ReportMetric(res[0].rate/res[1].rate, "x_throughput_32")
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

// benchBodies are predict requests, one X-ray JPEG each.
func benchBodies(b *testing.B) [][]byte {
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
		body, _ := json.Marshal(map[string]any{"signature_name": "serving_bytes",
			"instances": []map[string]string{{"b64": base64.StdEncoding.EncodeToString(img)}}})
		out = append(out, body)
	}
	return out
}

// startXray serves model in this process on a loopback port until the benchmark ends.
func startXray(b *testing.B, model string) string {
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, 10*time.Second) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// startPython runs scripts/ref/serve_ref.py on model until the benchmark ends.
func startPython(b *testing.B, model string) string {
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
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "PORT ")
	if err != nil || !ok {
		b.Fatalf("serve_ref.py did not start: %q %v: %s", line, err, stderr.String())
	}
	return "http://127.0.0.1:" + port
}

type result struct {
	rate     float64 // requests per second
	p50, p99 time.Duration
}

// run sends n predict requests from the given number of clients (or as many as fit in
// runLimit) and measures them; any failure ends the benchmark.
func run(b *testing.B, url string, bodies [][]byte, clients, n int) result {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: runLimit}
	defer client.CloseIdleConnections()
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
				err := predict(client, url, bodies[i%int64(len(bodies))])
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
		b.Fatalf("%s: %v", url, failure)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return result{rate: float64(len(lat)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}
}

func predict(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url+"/v1/models/xray:predict", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Predictions []struct{ Probabilities []float32 } `json:"predictions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Predictions) != 1 {
		return fmt.Errorf("predict: %s, %v", resp.Status, err)
	}
	return nil
}
