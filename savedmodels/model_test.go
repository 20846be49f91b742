package savedmodels_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/xraylab/xray/savedmodels"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// served is an exported tiny model, loaded, with real X-rays and the live graph's
// probabilities for them: what every serving test compares against.
type served struct {
	dir    string
	files  [][]byte
	images []image.Image
	want   [][]float32 // live graph on the Go-preprocessed files
}

func newServed(t *testing.T, size, n int) *served {
	t.Helper()
	dir, m, sess := exportTiny(t, size, 11, savedmodels.Metadata{})
	s := &served{dir: dir, files: savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, n))}
	for _, b := range s.files {
		img, err := preprocess.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		s.images = append(s.images, img)
	}
	s.want = liveProbs(t, sess, m, savedmodelstest.GoPixels(t, preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}, s.files))
	requireSensitive(t, s.want)
	return s
}

func (s *served) load(t *testing.T, opts savedmodels.Options) *savedmodels.Model {
	t.Helper()
	m, err := savedmodels.Load(s.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// check compares a prediction with the live graph's for image i.
func (s *served) check(t testing.TB, what string, i int, p savedmodels.Prediction) {
	t.Helper()
	if p.Err != nil {
		t.Errorf("%s: image %d: %v", what, i, p.Err)
		return
	}
	approx.Within(t, fmt.Sprintf("%s: image %d: probabilities vs live graph", what, i), p.Probabilities[:], s.want[i], approx.Abs, roundTripTol)
	if p.Class != argmax(s.want[i]) || p.Label != labels.Default().Name(p.Class) {
		t.Errorf("%s: image %d: class %d %q, live argmax %d", what, i, p.Class, p.Label, argmax(s.want[i]))
	}
}

// TestPredictBatchesConcurrentCalls: concurrent single-image calls share one session run.
func TestPredictBatchesConcurrentCalls(t *testing.T) {
	s := newServed(t, 32, 4)
	// A minute's delay: the batch closes when the 4th image arrives, never on the timer.
	m := s.load(t, savedmodels.Options{MaxBatch: 4, MaxDelay: time.Minute})
	var wg sync.WaitGroup
	for i := range s.images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			preds, err := m.Predict(context.Background(), s.images[i])
			if err != nil {
				t.Error(err)
				return
			}
			s.check(t, "batched", i, preds[0])
		}()
	}
	wg.Wait()
	if n := savedmodels.Runs(m); n != 1 {
		t.Errorf("4 concurrent calls took %d session runs, want 1 batch", n)
	}
}

// TestPredictConcurrent hammers one Model from many goroutines (run it with -race) and
// checks every answer against the live graph.
func TestPredictConcurrent(t *testing.T) {
	s := newServed(t, 32, 6)
	m := s.load(t, savedmodels.Options{MaxBatch: 8})
	calls := 40
	if testing.Short() || raceEnabled {
		calls = 12
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < calls; c++ {
				// 1 to 3 images per call, starting at a different one each time.
				k := 1 + (g+c)%3
				idx := make([]int, k)
				for j := range idx {
					idx[j] = (g*7 + c + j) % len(s.images)
				}
				var preds []savedmodels.Prediction
				var err error
				if c%2 == 0 {
					imgs := make([]image.Image, k)
					for j, i := range idx {
						imgs[j] = s.images[i]
					}
					preds, err = m.Predict(context.Background(), imgs...)
				} else {
					files := make([][]byte, k)
					for j, i := range idx {
						files[j] = s.files[i]
					}
					preds, err = m.PredictBytes(context.Background(), files...)
				}
				if err != nil {
					t.Error(err)
					return
				}
				for j, i := range idx {
					s.check(t, fmt.Sprintf("goroutine %d call %d", g, c), i, preds[j])
				}
			}
		}()
	}
	wg.Wait()
	if runs := savedmodels.Runs(m); runs > int64(8*calls) {
		t.Errorf("%d session runs for %d calls", runs, 8*calls)
	}
}

// TestPredictMemoryFlat makes 10 000 predictions and checks that the process does not
// grow: input and output tensors are released, nothing accumulates per call. The bound
// is generous (64 MiB); a leaked input tensor alone would be 10 000 x 48 KiB = 470 MiB.
func TestPredictMemoryFlat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	if testing.Short() {
		t.Skip("10 000 predictions; skipped with -short")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless; run without -race")
	}
	s := newServed(t, 64, 4)
	m := s.load(t, savedmodels.Options{})
	// Images already at the input size: the resize would dominate the run time.
	for i, img := range s.images {
		s.images[i] = imaging.Resize(img, 64, 64, imaging.Linear)
	}
	predict := func(n int) {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := g; c < n; c += 8 {
					preds, err := m.Predict(context.Background(), s.images[c%len(s.images)])
					if err != nil || preds[0].Err != nil {
						t.Errorf("prediction %d: %v %v", c, err, preds)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	predict(1000) // warm up: TensorFlow's allocator pools, Go's heap
	before := rss(t)
	predict(10000)
	runtime.GC()
	after := rss(t)
	t.Logf("RSS %d MiB -> %d MiB over 10 000 predictions", before>>20, after>>20)
	if after-before > 64<<20 {
		t.Errorf("RSS grew by %d MiB over 10 000 predictions (from %d MiB), want < 64 MiB", (after-before)>>20, before>>20)
	}
}

// rss is the process's resident set size after a GC (finalizers free TensorFlow tensors).
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	runtime.GC()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestPredictBadImages: a bad image is an error for that image only.
func TestPredictBadImages(t *testing.T) {
	s := newServed(t, 32, 2)
	m := s.load(t, savedmodels.Options{})
	bad := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(pyref.RepoRoot(), "testdata", "bad", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	files := [][]byte{s.files[0], bad("empty.jpeg"), bad("notes.jpeg"), bad("truncated.jpeg"), nil, s.files[1]}
	preds, err := m.PredictBytes(context.Background(), files...)
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, "good file before bad ones", 0, preds[0])
	s.check(t, "good file after bad ones", 1, preds[5])
	for i := 1; i <= 4; i++ {
		if preds[i].Err == nil {
			t.Errorf("file %d: no error, got %+v", i, preds[i])
		}
		if preds[i].Label != "" || preds[i].Probabilities != nil {
			t.Errorf("file %d: a failed prediction carries values %+v", i, preds[i])
		}
	}
	if !errors.Is(preds[1].Err, preprocess.ErrEmpty) || !errors.Is(preds[2].Err, preprocess.ErrUnsupported) {
		t.Errorf("errors %v, %v: want preprocess.ErrEmpty, preprocess.ErrUnsupported", preds[1].Err, preds[2].Err)
	}

	imgs, err := m.Predict(context.Background(), nil, s.images[1], image.NewGray(image.Rect(0, 0, 0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if imgs[0].Err == nil || imgs[2].Err == nil {
		t.Errorf("nil and empty images: errors %v, %v", imgs[0].Err, imgs[2].Err)
	}
	s.check(t, "good image between bad ones", 1, imgs[1])

	// All bad: no session run at all, still one answer each.
	before := savedmodels.Runs(m)
	all, err := m.PredictBytes(context.Background(), bad("notes.jpeg"))
	if err != nil || len(all) != 1 || all[0].Err == nil || savedmodels.Runs(m) != before {
		t.Errorf("all-bad call: %v %+v, %d runs", err, all, savedmodels.Runs(m)-before)
	}
}

// TestPredictContext: a done context ends the call with its error, and the dispatcher
// answers a request whose caller has gone with that error instead of running it.
func TestPredictContext(t *testing.T) {
	s := newServed(t, 32, 2)
	// Batches of 2 that wait up to a minute to fill: only full batches run in this test.
	m := s.load(t, savedmodels.Options{MaxBatch: 2, MaxDelay: time.Minute})

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(done, s.images[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v, want context.Canceled", err)
	}

	// Cancelled while waiting for the batch to fill (or before it was queued: the same
	// error either way).
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := m.Predict(ctx, s.images[0])
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("context cancelled while waiting: %v, want context.Canceled", err)
	}

	// Certainly queued, then cancelled: the dispatcher must answer it with the error. A
	// fresh model, so no request of the calls above is waiting in a batch: this one
	// waits alone until the next call fills the batch.
	m = s.load(t, savedmodels.Options{MaxBatch: 2, MaxDelay: time.Minute})
	qctx, qcancel := context.WithCancel(context.Background())
	req, err := savedmodels.SubmitZeros(qctx, m)
	if err != nil {
		t.Fatal(err)
	}
	qcancel()
	// Two images fill the batch, which then runs at once.
	preds, err := m.Predict(context.Background(), s.images[1], s.images[0])
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, "after cancelled calls", 1, preds[0])
	s.check(t, "after cancelled calls", 0, preds[1])
	if probs, err := req.Wait(); !errors.Is(err, context.Canceled) || probs != nil {
		t.Errorf("queued request of a cancelled caller: err %v, probs %v; want context.Canceled and no result", err, probs)
	}
}

func TestClose(t *testing.T) {
	s := newServed(t, 32, 2)
	m, err := savedmodels.Load(s.dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	preds, err := m.PredictBytes(context.Background(), s.files[0])
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, "before Close", 0, preds[0])
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Predict(context.Background(), s.images[0]); !errors.Is(err, savedmodels.ErrClosed) {
		t.Errorf("Predict after Close: %v, want ErrClosed", err)
	}
}

// TestPredictPixels: preprocessed pixels give the live graph's probabilities; a wrong
// length is that image's error only.
func TestPredictPixels(t *testing.T) {
	s := newServed(t, 32, 2)
	m := s.load(t, savedmodels.Options{})
	px := savedmodelstest.GoPixels(t, preprocess.Preprocessor{Size: 32, Scaling: preprocess.Unit}, s.files)
	preds, err := m.PredictPixels(context.Background(), px[0], px[1][:10], px[1])
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, "pixels", 0, preds[0])
	s.check(t, "pixels", 1, preds[2])
	if preds[1].Err == nil || !strings.Contains(preds[1].Err.Error(), "10 pixel values, want 3072") {
		t.Errorf("short pixels: %v, want a length error", preds[1].Err)
	}
}
