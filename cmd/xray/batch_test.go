package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/approx"
)

// TestBatchCLI: xray batch on Prism writes, for the files its pattern matches, xray
// predict's lines (the same probabilities), the bad files as dead letters, and a summary
// that adds up; exit 1 for the failures.
func TestBatchCLI(t *testing.T) {
	model := tinySavedModel(t, 32)
	in, nbad := imageDir(t, 40)
	out := filepath.Join(t.TempDir(), "preds")
	code, stdout, stderr := runCLI(t, "batch", "--savedmodel", model, "--input", filepath.Join(in, "*.jpeg"), "--output", out, "--batch", "8", "--shards", "2")
	if code != exitFailure || !strings.Contains(stderr, "3 of 43 files could not be predicted") || !strings.Contains(stdout, "43 files matched, 40 predicted, 3 failed") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "level=INFO") {
		t.Errorf("Beam's INFO logs shown without --verbose:\n%s", stderr)
	}
	ref := filepath.Join(t.TempDir(), "ref.jsonl")
	if code, _, stderr := runCLI(t, "predict", "--savedmodel", model, "--input", in, "--out", ref); code != exitFailure {
		t.Fatalf("xray predict: exit %d, %s", code, stderr)
	}
	want := map[string]streamLine{}
	for _, l := range readLines(t, ref) {
		want[l.File] = l
	}
	got := append(readLines(t, out+"-00000-of-00002.jsonl"), readLines(t, out+"-00001-of-00002.jsonl")...)
	if len(got) != 40 {
		t.Fatalf("%d prediction lines, want 40", len(got))
	}
	for _, l := range got {
		w := want[l.File]
		if l.Class != w.Class || w.Error != "" {
			t.Errorf("%s: %q, xray predict %+v", l.File, l.Class, w)
			continue
		}
		approx.Within(t, l.File+": probabilities vs xray predict", l.Probabilities[:], w.Probabilities[:], approx.Abs, 1e-6)
	}
	dead := readLines(t, out+"-failed.jsonl")
	if len(dead) != nbad {
		t.Errorf("%d dead letters, want %d", len(dead), nbad)
	}
	for _, l := range dead {
		if l.Error == "" || want[l.File].Error == "" {
			t.Errorf("dead letter %+v; xray predict: %+v", l, want[l.File])
		}
	}
	var sum struct {
		Matched, Failed int
		Classes         map[string]int
	}
	if b, err := os.ReadFile(out + "-summary.json"); err != nil || json.Unmarshal(b, &sum) != nil || sum.Matched != 43 || sum.Failed != 3 || sum.Classes["normal"]+sum.Classes["pneumonia"] != 40 {
		t.Errorf("summary file: %+v, %v", sum, err)
	}

	if code, _, stderr := runCLI(t, "batch", "--savedmodel", model, "--input", in); code != exitUsage || !strings.Contains(stderr, "--output") {
		t.Errorf("no --output: exit %d, %s", code, stderr)
	}
}
