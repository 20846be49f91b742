package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/savedmodels"
)

// serveLoopback runs s.Serve on an ephemeral loopback port until the test ends.
func serveLoopback(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, 10*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// waitVersion polls until the server serves version n.
func waitVersion(t *testing.T, s *Server, n int64) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); s.Version() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("version %d never served (still %d)", n, s.Version())
		}
	}
}

// rss is this process's resident set size in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("RSS: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestHotReloadUnderLoad: clients keep predicting while new versions are copied in with
// cp -r (not atomically): no request fails, each answer is one version's, the version
// switches; a swapped-out version's session is closed once its requests are done, and
// RSS after 50 reloads is within 5 % of RSS after 5.
func TestHotReloadUnderLoad(t *testing.T) {
	f := newFixture(t, 1)
	staged := map[int]exported{}
	for _, n := range []int{2, 3} { // two different weights to alternate between
		staged[n] = f.export(t, n, filepath.Join(t.TempDir(), "staged", strconv.Itoa(n)))
	}
	s, err := New(Config{ModelDir: f.base, Poll: 5 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	url := serveLoopback(t, s) + "/v1/models/xray:predict"

	var served, bad atomic.Int64
	var failure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (c + k) % len(f.files)
				body, _ := json.Marshal(map[string]any{"signature_name": "serving_bytes", "instances": b64s(f.files[i : i+1])})
				resp, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					bad.Add(1)
					failure.Store(err.Error())
					continue
				}
				var got predictions
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil || len(got.Predictions) != 1 || !oneOf(got.Predictions[0].Probabilities, i, f.versions[1], staged[2], staged[3]) {
					bad.Add(1)
					failure.Store(resp.Status)
					continue
				}
				served.Add(1)
			}
		}()
	}

	var before int64
	for cycle := 1; cycle <= 50; cycle++ {
		n := int64(cycle + 1)
		old := s.models.Latest()
		cp := exec.Command("cp", "-r", staged[2+cycle%2].dir, filepath.Join(f.base, strconv.FormatInt(n, 10)))
		if out, err := cp.CombinedOutput(); err != nil {
			t.Fatalf("cp -r: %v: %s", err, out)
		}
		waitVersion(t, s, n)
		select { // the old version is closed once its requests are done
		case <-old.Closed():
		case <-time.After(time.Minute):
			t.Fatalf("version %d not closed a minute after the swap to %d", old.N, n)
		}
		if _, err := old.Model.PredictPixels(context.Background(), f.pixels[0]); !errors.Is(err, savedmodels.ErrClosed) {
			t.Fatalf("version %d still open after the swap to %d: %v", old.N, n, err)
		}
		if cycle == 5 {
			before = rss(t)
		}
	}
	after := rss(t)
	close(stop)
	wg.Wait()
	if bad.Load() != 0 || served.Load() == 0 {
		t.Errorf("during 50 reloads: %d requests answered right, %d not (last: %v)", served.Load(), bad.Load(), failure.Load())
	}
	t.Logf("%d requests during 50 reloads; RSS %d MiB after 5, %d MiB after 50", served.Load(), before>>20, after>>20)
	if float64(after) > 1.05*float64(before) {
		t.Errorf("RSS grew from %d MiB after 5 reloads to %d MiB after 50: swapped-out versions are not released", before>>20, after>>20)
	}
}

// oneOf reports whether p is image i's probabilities under one of the versions.
func oneOf(p []float32, i int, vs ...exported) bool {
	for _, v := range vs {
		if d, err := approx.Compare(p, v.want[i], approx.Abs); err == nil && d.Max <= liveTol {
			return true
		}
	}
	return false
}
