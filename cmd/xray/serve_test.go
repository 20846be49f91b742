package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/approx"
)

// syncBuffer is a bytes.Buffer safe for the server's log writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `xray serve` in this process on a free loopback port until SIGTERM,
// and waits until it is ready. The exit code arrives on the channel.
func startServe(t *testing.T, args ...string) (url string, stderr *syncBuffer, exit chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stderr, exit = &syncBuffer{}, make(chan int, 1)
	go func() {
		exit <- run(append([]string{"xray", "serve", "--addr", addr}, args...), io.Discard, stderr)
	}()
	url = "http://" + addr
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stderr, exit
			}
		}
		select {
		case code := <-exit:
			t.Fatalf("xray serve exited with %d: %s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("xray serve not ready: %s", stderr)
		}
	}
}

// TestServeMatchesPredict: the REST predict of `xray serve` gives the probabilities of
// `xray predict` for the same files and SavedModel, and SIGTERM under load lets every
// request that was answered succeed, then exits 0.
func TestServeMatchesPredict(t *testing.T) {
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

	url, logs, exit := startServe(t, "--model-dir", dir, "--log-format", "json", "--drain", "20s")
	var instances []map[string]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, map[string]string{"b64": base64.StdEncoding.EncodeToString(b)})
	}
	body, _ := json.Marshal(map[string]any{"signature_name": "serving_bytes", "instances": instances})
	resp, err := http.Post(url+"/v1/models/xray:predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Predictions []struct{ Probabilities []float32 }
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(got.Predictions) != len(want) {
		t.Fatalf("predict over REST: %d, %v, %d predictions", resp.StatusCode, err, len(got.Predictions))
	}
	for i := range want {
		approx.Within(t, fmt.Sprintf("%s: REST vs xray predict", files[i]), got.Predictions[i].Probabilities, want[i], approx.Abs, 1e-6)
	}

	// SIGTERM while 4 clients keep sending: answered requests all succeed, exit 0.
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	img, _ := os.ReadFile(files[0])
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(url+"/v1/classify", "image/jpeg", bytes.NewReader(img))
				if err != nil {
					continue // refused once the listener has closed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
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
	close(stop)
	wg.Wait()
	if ok.Load() == 0 || failed.Load() != 0 {
		t.Errorf("under SIGTERM: %d answered 200, %d otherwise; want all 200", ok.Load(), failed.Load())
	}
	for _, want := range []string{`"msg":"request"`, `"path":"/v1/classify"`, `"msg":"draining"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("JSON log lacks %s", want)
		}
	}
}

// TestServeSecurityAndConfigFlags: the new flags' mistakes end with the flag's name
// before anything is served.
func TestServeSecurityAndConfigFlags(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.config"
	os.WriteFile(bad, []byte(`model_config_list { config { name: "a" } }`), 0o644)
	short := dir + "/tokens"
	os.WriteFile(short, []byte("short\n"), 0o600)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--model-dir", dir, "--model-config-file", bad}, exitUsage, "not both"},
		{[]string{"--model-config-file", bad}, exitFailure, "--model-config-file: bad model config"},
		{[]string{"--model-config-file", dir + "/absent"}, exitFailure, "--model-config-file: bad model config"},
		{[]string{"--model-dir", dir, "--max-pixels", "40000000"}, exitUsage, "--max-pixels 40000000: at most 33554432"},
		{[]string{"--model-dir", dir, "--auth-tokens", short}, exitFailure, "--auth-tokens: bad token file"},
		{[]string{"--model-dir", dir, "--tls-cert", short}, exitFailure, "--tls-cert/--tls-key/--client-ca: bad TLS files"},
	} {
		var stderr bytes.Buffer
		code := run(append([]string{"xray", "serve"}, c.args...), io.Discard, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("%v: exit %d %q, want %d saying %q", c.args, code, stderr.String(), c.code, c.says)
		}
	}
}
