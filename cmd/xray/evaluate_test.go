package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/errorspage"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/savedmodels"
)

// paperMobileNetCSV writes predictions with the paper's MobileNet confusion matrix
// (TN 330, FP 15, FN 29, TP 786).
func paperMobileNetCSV(t *testing.T, path string) []evaluator.Record {
	t.Helper()
	var recs []evaluator.Record
	add := func(n, label, pred int) {
		for i := 0; i < n; i++ {
			p := 0.05 + 0.4*float64(i%7)/7 // below 0.5, varied so the ROC is not degenerate
			probs := [2]float64{1 - p, p}
			if pred == 1 {
				probs = [2]float64{p, 1 - p}
			}
			recs = append(recs, evaluator.Record{Path: fmt.Sprintf("img/%d-%d-%d.jpeg", label, pred, i), Label: label, Probs: probs})
		}
	}
	add(330, 0, 0)
	add(15, 0, 1)
	add(29, 1, 0)
	add(786, 1, 1)
	if err := evaluator.WritePredictionsCSV(path, recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"xray"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestEvaluatePredictions(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "preds.csv")
	paperMobileNetCSV(t, in)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI(t, "evaluate", "--predictions", in, "--out", out, "--model", "mobilenet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// the paper's MobileNet row (paper-facts.md)
	if want := "| mobilenet | 0.962 | 0.92 | 0.96 | 0.94 | 0.98 | 0.96 | 0.97 |"; !strings.Contains(stdout, want) {
		t.Errorf("report lacks %q:\n%s", want, stdout)
	}
	for _, f := range []string{"predictions.csv", "metrics.json", "report.md", "confusion.png", "roc.png", "calibration.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	code, stdout, stderr = runCLI(t, "evaluate", "--predictions", in, "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("--json exit %d: %s", code, stderr)
	}
	var m struct {
		N         int       `json:"n"`
		Confusion [2][2]int `json:"confusion_matrix"`
	}
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if m.N != 1160 || m.Confusion != [2][2]int{{330, 15}, {29, 786}} {
		t.Errorf("--json: n %d confusion %v", m.N, m.Confusion)
	}
}

func TestEvaluateBadCSV(t *testing.T) {
	in := filepath.Join(t.TempDir(), "bad.csv")
	content := "path,label,predicted,p_normal,p_pneumonia\na.jpeg,1,1,0.2,0.8\nb.jpeg,0,0,0.9,oops\n"
	if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "evaluate", "--predictions", in)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, stderr)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, in+" line 3") {
		t.Errorf("want one line naming %s line 3, got %q", in, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(in), "metrics.json")); err == nil {
		t.Error("metrics.json written for a bad input")
	}
}

func TestEvaluateUsage(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "p.csv")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"evaluate"}, exitUsage, "--savedmodel DIR [--data DIR --manifest FILE], or --predictions"},
		{[]string{"evaluate", "--savedmodel", "sm", "--predictions", csv}, exitUsage, "not both"},
		{[]string{"evaluate", "--savedmodel", "sm"}, exitFailure, "no split manifest for sm: none given and no manifest.csv beside it: pass --manifest FILE"},
		{[]string{"evaluate", "--predictions", csv, "extra"}, exitUsage, "no arguments"},
		{[]string{"evaluate", "--savedmodel", "sm", "--manifest", csv}, exitFailure, csv},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// The SavedModel path is one function away: a runner's records flow into the outputs,
// written beside the SavedModel in eval-<split>.
func TestEvaluateSavedModelRunnerHook(t *testing.T) {
	runDir := t.TempDir()
	recs := paperMobileNetCSV(t, filepath.Join(t.TempDir(), "unused.csv"))
	var got savedModelInput
	orig := runSavedModel
	runSavedModel = func(_ context.Context, in savedModelInput) ([]evaluator.Record, savedmodels.Metadata, error) {
		got = in
		return recs, savedmodels.Metadata{Arch: "mobilenet"}, nil
	}
	t.Cleanup(func() { runSavedModel = orig })
	sm := filepath.Join(runDir, "savedmodel")
	code, stdout, stderr := runCLI(t, "evaluate", "--savedmodel", sm, "--data", "data", "--manifest", "m.csv", "--split", "val")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got.SavedModel != sm || got.Data != "data" || got.Manifest != "m.csv" || got.Split != "val" {
		t.Errorf("runner got %+v", got)
	}
	m, err := evaluator.ReadMetrics(filepath.Join(runDir, "eval-val", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Model != "mobilenet" || m.Split != "val" || m.Source != sm || m.N != 1160 {
		t.Errorf("metrics model %q split %q source %q n %d", m.Model, m.Split, m.Source, m.N)
	}
	if !strings.Contains(stdout, "| mobilenet | 0.962 |") {
		t.Errorf("report:\n%s", stdout)
	}
}

// TestEvaluateSavedModel runs `xray evaluate --savedmodel` for real on the repository's
// sample: a manifest from `xray dataset split`, the tiny exported model of predictFixture.
// predictions.csv must hold exactly the manifest's test images, each with the manifest's
// label, and for each the probabilities `xray predict --json` gives for that file (which
// TestPredict checks against the live graph).
func TestEvaluateSavedModel(t *testing.T) {
	sm, _, _ := predictFixture(t)
	data := filepath.Join("..", "..", "testdata", "chest_xray")
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.csv")
	if code, _, stderr := runCLI(t, "dataset", "split", "--data", data, "--out", manifest); code != exitOK {
		t.Fatalf("dataset split: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "eval")
	code, stdout, stderr := runCLI(t, "evaluate", "--savedmodel", sm, "--data", data, "--manifest", manifest, "--out", out)
	if code != exitOK {
		t.Fatalf("evaluate: exit %d: %s", code, stderr)
	}
	recs, err := evaluator.ReadPredictionsCSV(filepath.Join(out, evaluator.PredictionsFile))
	if err != nil {
		t.Fatal(err)
	}
	man, err := dataset.ReadManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	test := man.Subset(dataset.Test)
	if len(test) == 0 || len(recs) != len(test) {
		t.Fatalf("predictions.csv has %d rows, the manifest %d test images", len(recs), len(test))
	}
	if want := fmt.Sprintf("on the test split (%d images)", len(test)); !strings.Contains(stdout, want) {
		t.Errorf("report lacks %q:\n%s", want, stdout)
	}
	files := make([]string, len(test))
	for i, e := range test {
		files[i] = filepath.Join(data, filepath.FromSlash(e.Path))
		if recs[i].Path != e.Path || recs[i].Label != e.Label {
			t.Errorf("row %d: %s label %d, manifest %s label %d", i, recs[i].Path, recs[i].Label, e.Path, e.Label)
		}
	}
	code, stdout, stderr = runCLI(t, append([]string{"predict", "--savedmodel", sm, "--json"}, files...)...)
	if code != exitOK {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	var got, want [][]float64
	dec := json.NewDecoder(strings.NewReader(stdout))
	for i := range files {
		var r struct {
			File          string     `json:"file"`
			Probabilities [2]float64 `json:"probabilities"`
		}
		if err := dec.Decode(&r); err != nil || r.File != files[i] {
			t.Fatalf("predict --json object %d: %+v, %v; want file %s", i, r, err, files[i])
		}
		got, want = append(got, recs[i].Probs[:]), append(want, r.Probabilities[:])
	}
	// Same SavedModel, same preprocessing: only the batch composition differs.
	d := approx.WithinRows(t, "evaluate vs predict probabilities", got, want, approx.Abs, 1e-6)
	t.Logf("%d test images: %v", len(files), d)
	m, err := evaluator.ReadMetrics(filepath.Join(out, evaluator.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.N != len(test) || m.Source != sm || m.Split != "test" {
		t.Errorf("metrics.json: n %d source %q split %q", m.N, m.Source, m.Split)
	}
	if _, err := os.Stat(filepath.Join(out, errorspage.File)); err != nil { // its content: evaluator/errorspage TestErrorsPageInChromium
		t.Errorf("evaluate wrote no %s: %v", errorspage.File, err)
	}
}
