package batchpipe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/predictstream"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

type jsonLine struct {
	File          string     `json:"file"`
	Class         string     `json:"class"`
	Probabilities [2]float64 `json:"probabilities"`
	Error         string     `json:"error"`
}

func readJSONL(t *testing.T, pattern string) []jsonLine {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	var out []jsonLine
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var r jsonLine
			if err := json.Unmarshal([]byte(l), &r); err != nil || r.File == "" {
				t.Fatalf("%s: line %q: %v", f, l, err)
			}
			out = append(out, r)
		}
	}
	return out
}

// sample links the test X-rays and three bad files into one directory.
func sample(t *testing.T) (dir string, good, bad int) {
	t.Helper()
	xrays, _ := filepath.Glob("../testdata/chest_xray/*/*/*.jpeg")
	if len(xrays) < 100 {
		t.Fatalf("%d X-rays in testdata", len(xrays))
	}
	dir = t.TempDir()
	link := func(src, name string) {
		abs, err := filepath.Abs(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for i, x := range xrays {
		link(x, fmt.Sprintf("%03d-%s", i, filepath.Base(x)))
	}
	for _, b := range []string{"empty.jpeg", "notes.jpeg", "truncated.jpeg"} {
		link(filepath.Join("../testdata/bad", b), "bad-"+b)
	}
	return dir, len(xrays), 3
}

// TestPipelineOnPrism: the pipeline on Prism (in this process) gives xray predict's
// predictions for every good file, the bad ones in the dead letters, a summary that adds
// up, and closes every model it loaded.
func TestPipelineOnPrism(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 9)
	model := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(model, sess, m, savedmodels.Metadata{RunID: "beam"}); err != nil {
		t.Fatal(err)
	}
	in, good, bad := sample(t)
	out := filepath.Join(t.TempDir(), "preds")
	sum, err := Run(context.Background(), Config{SavedModel: model, Input: filepath.Join(in, "*.jpeg"), Output: out, Batch: 8, Shards: 3}, "prism")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary %+v", sum)

	// xray predict's engine over the same files: the reference.
	served, err := savedmodels.Load(model, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	src, err := predictstream.Input(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]predictstream.Line{}
	classes := map[string]int{}
	err = predictstream.Run(context.Background(), served, src, predictstream.Options{}, func(lines []predictstream.Line) error {
		for _, l := range lines {
			want[l.File] = l
			if l.Err == nil {
				classes[l.Label]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	preds := readJSONL(t, out+"-0000?-of-00003.jsonl")
	failed := readJSONL(t, out+"-failed.jsonl")
	if len(preds) != good || len(failed) != bad {
		t.Fatalf("%d predictions and %d dead letters, want %d and %d", len(preds), len(failed), good, bad)
	}
	seen := map[string]bool{}
	for _, l := range preds {
		w := want[l.File]
		if seen[l.File] || w.Err != nil || l.Error != "" || l.Class != w.Label {
			t.Errorf("%s: class %q, xray predict %q (%v); seen before %v", l.File, l.Class, w.Label, w.Err, seen[l.File])
			continue
		}
		seen[l.File] = true
		approx.Within(t, l.File+": probabilities vs xray predict", l.Probabilities[:], w.Probabilities[:], approx.Abs, 1e-6)
	}
	for _, l := range failed {
		if w := want[l.File]; w.Err == nil || l.Error == "" {
			t.Errorf("dead letter %+v: xray predict had no error (%+v)", l, w)
		}
	}
	if sum.Matched != good+bad || sum.Failed != bad || sum.Predicted() != good || fmt.Sprint(sum.Classes) != fmt.Sprint(classes) {
		t.Errorf("summary %+v, want %d matched, %d failed, classes %v", sum, good+bad, bad, classes)
	}
	var onDisk Summary
	if b, err := os.ReadFile(out + "-summary.json"); err != nil || json.Unmarshal(b, &onDisk) != nil || fmt.Sprint(onDisk) != fmt.Sprint(sum) {
		t.Errorf("summary file %s: %+v (%v), want %+v", out+"-summary.json", onDisk, err, sum)
	}
	if n := openModels(); n != 0 || models.loads != 1 {
		t.Errorf("%d models loaded, %d still open after the pipeline; want 1 load (one worker process), none open", models.loads, n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Input: "x", Output: "y"}, {SavedModel: "m", Output: "y"}, {SavedModel: "m", Input: "x"}, {SavedModel: "m", Input: "x", Output: "y", Shards: -1}} {
		if _, err := Run(context.Background(), c, "prism"); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
}
