package predictstream

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

const tinySize = 32

// tinyServed exports a tiny model, loads it for serving and returns a function giving
// the live graph's probabilities for files (Go preprocessing, the graph in memory): the
// reference the served predictions are compared with.
func tinyServed(t *testing.T) (*savedmodels.Model, func(files []string) [][]float32) {
	t.Helper()
	m, sess := savedmodelstest.TinyModel(t, tinySize, 7)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "stream"}); err != nil {
		t.Fatal(err)
	}
	served, err := savedmodels.Load(dir, savedmodels.Options{MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { served.Close() })
	live := func(files []string) [][]float32 {
		pre := preprocess.Preprocessor{Size: tinySize, Scaling: preprocess.Unit}
		var flat []float32
		for _, f := range files {
			p, err := pre.File(f)
			if err != nil {
				t.Fatal(err)
			}
			flat = append(flat, p...)
		}
		x, err := tf.NewTensor(flat)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Reshape([]int64{int64(len(files)), tinySize, tinySize, 3}); err != nil {
			t.Fatal(err)
		}
		out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, []tf.Output{m.Probs}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Value().([][]float32)
	}
	return served, live
}

func xrays(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/chest_xray/*/*/*.jpeg")
	if err != nil || len(files) < 100 {
		t.Fatalf("X-rays in testdata/chest_xray: %d, %v", len(files), err)
	}
	return files
}

// TestRun: every file once, in source order, batches of the size asked, bad files as
// error lines among the others, probabilities equal to the live graph's.
func TestRun(t *testing.T) {
	model, live := tinyServed(t)
	files := xrays(t)[:61]
	src := append([]string{}, files[:20]...)
	src = append(src, "../testdata/bad/notes.jpeg", "../testdata/bad/missing.jpeg")
	src = append(src, files[20:]...)
	var got []Line
	var sizes []int
	err := Run(context.Background(), model, Paths(src), Options{Batch: 7, InFlight: 3, Skip: func(p string) bool { return p == files[5] }}, func(lines []Line) error {
		sizes = append(sizes, len(lines))
		got = append(got, lines...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(src)-1 || sizes[0] != 7 {
		t.Fatalf("%d lines in batches of %v for %d files, one skipped", len(got), sizes, len(src))
	}
	want := map[string][]float32{}
	for i, p := range live(files) {
		want[files[i]] = p
	}
	k := 0
	for _, p := range src {
		if p == files[5] {
			continue
		}
		l := got[k]
		k++
		switch {
		case l.File != p:
			t.Fatalf("line %d is %s, want %s (source order)", k, l.File, p)
		case want[p] == nil && l.Err == nil:
			t.Errorf("%s: no error", p)
		case want[p] != nil && l.Err != nil:
			t.Errorf("%s: %v", p, l.Err)
		case want[p] != nil:
			approx.Within(t, fmt.Sprintf("%s: probabilities vs live graph", p), l.Probabilities[:], want[p], approx.Abs, 1e-6)
		}
	}
}

// TestRunStops: emit's error and a cancelled context end the run with that error.
func TestRunStops(t *testing.T) {
	model, _ := tinyServed(t)
	files := xrays(t)
	stop := errors.New("disk full")
	calls := 0
	err := Run(context.Background(), model, Paths(files), Options{Batch: 4}, func([]Line) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("emit failing: %v after %d calls, want %v after 1", err, calls, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = Run(ctx, model, Paths(files), Options{Batch: 4}, func(lines []Line) error {
		n += len(lines)
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= len(files) {
		t.Errorf("cancelled: %v after %d of %d files", err, n, len(files))
	}
}
