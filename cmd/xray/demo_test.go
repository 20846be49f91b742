package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
)

// The demo is the README's main job: split, train, export, evaluate, on the embedded
// sample. One epoch keeps it short; the files and counts are what a person looks at.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model for an epoch")
	}
	out := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := runCLI(t, "demo", "--out", out, "--epochs", "1", "--quiet")
	if code != exitOK {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"manifest.csv", "run.json", "history.csv", "curves.png",
		"savedmodel/saved_model.pb", "eval-test/predictions.csv", "eval-test/metrics.json",
		"eval-test/report.md", "eval-test/confusion.png", "eval-test/roc.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written (%v)", f, err)
		}
	}
	for _, want := range []string{"epoch 1/1", "## Confusion matrix", "## Table 1 row", "confusion matrix", "curves.png"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}

	// The evaluation covers exactly the manifest's test split, class by class.
	man, err := dataset.ReadManifest(filepath.Join(out, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var want [2]int
	for _, e := range man.Subset(dataset.Test) {
		want[e.Label]++
	}
	raw, err := os.ReadFile(filepath.Join(out, "eval-test", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct {
		N         int       `json:"n"`
		Confusion [2][2]int `json:"confusion_matrix"`
	}
	if err := json.Unmarshal(raw, &metrics); err != nil {
		t.Fatal(err)
	}
	for c := range 2 {
		if got := metrics.Confusion[c][0] + metrics.Confusion[c][1]; got != want[c] {
			t.Errorf("confusion row %d sums to %d, the manifest's test split has %d", c, got, want[c])
		}
	}
	f, err := os.Open(filepath.Join(out, "eval-test", "predictions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows)-1 != want[0]+want[1] || metrics.N != len(rows)-1 {
		t.Errorf("predictions.csv has %d rows, metrics n=%d, test split %d", len(rows)-1, metrics.N, want[0]+want[1])
	}

	// A second demo into the same directory replaces the first; a foreign directory is refused.
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "thesis.tex"), []byte("x"), 0o644)
	if code, _, stderr := runCLI(t, "demo", "--out", foreign, "--epochs", "1"); code != exitFailure || !strings.Contains(stderr, "not an earlier demo") {
		t.Errorf("demo into a foreign dir: exit %d %q", code, stderr)
	}
}
