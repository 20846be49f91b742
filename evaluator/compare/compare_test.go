package compare

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/evaluator"
)

// fromConfusion builds records with a given confusion matrix (TN, FP, FN, TP): each
// image's predicted class gets p 0.8. What compare reads is metrics.json, so the records
// need only their counts and paths (the split_sha256 comes from paths and labels).
func fromConfusion(tn, fp, fn, tp int) []evaluator.Record {
	var recs []evaluator.Record
	for cell, n := range []int{tn, fp, fn, tp} {
		label, pred := cell/2, cell%2
		for i := range n {
			probs := [2]float64{0.2, 0.2}
			probs[pred] = 0.8
			recs = append(recs, evaluator.Record{Path: fmt.Sprintf("%d/%d-%d.jpeg", label, pred, i), Label: label, Probs: probs})
		}
	}
	return recs
}

// fakeRun writes a run directory: run.json (when arch != "") and metricsRel/metrics.json
// evaluated from the given records through the evaluator's own API.
func fakeRun(t *testing.T, arch, metricsRel string, recs []evaluator.Record) string {
	t.Helper()
	dir := t.TempDir()
	if arch != "" {
		if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"arch": "`+arch+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := evaluator.Evaluate(recs, evaluator.Options{Split: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := evaluator.WriteOutputs(filepath.Join(dir, metricsRel), rep); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadRunFindsMetrics(t *testing.T) {
	recs := fromConfusion(30, 2, 3, 70)
	evalDir := fakeRun(t, "mobilenet", "eval-test", recs)
	flat := fakeRun(t, "Xception", ".", recs)
	for _, tc := range []struct{ arg, model string }{
		{evalDir, "mobilenet"},
		{filepath.Join(evalDir, "eval-test", evaluator.MetricsFile), "mobilenet"}, // run.json one level up
		{flat, "Xception"},
	} {
		r, err := LoadRun(tc.arg)
		if err != nil {
			t.Fatalf("%s: %v", tc.arg, err)
		}
		if r.Model != tc.model || r.Metrics.N != len(recs) {
			t.Errorf("%s: model %q n %d, want %q %d", tc.arg, r.Model, r.Metrics.N, tc.model, len(recs))
		}
	}
	_, err := LoadRun(t.TempDir())
	if !errors.Is(err, ErrNotEvaluated) {
		t.Errorf("empty run dir: %v, want ErrNotEvaluated", err)
	}
}

func TestCompareWarnsOnDifferentSplits(t *testing.T) {
	a := fakeRun(t, "mobilenet", "eval-test", fromConfusion(30, 2, 3, 70))
	b := fakeRun(t, "inceptionv3", "eval-test", fromConfusion(30, 2, 3, 70)) // same paths and labels
	c := fakeRun(t, "xception", "eval-test", fromConfusion(31, 2, 3, 69))    // another split
	same, err := Load([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(same.Warnings) != 0 {
		t.Errorf("same split warned: %v", same.Warnings)
	}
	diff, err := Load([]string{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	if len(diff.Warnings) != 1 || !strings.Contains(diff.Warnings[0], "not evaluated on the same test split") {
		t.Errorf("warnings %v", diff.Warnings)
	}
	md := diff.Markdown()
	for _, want := range []string{
		"| ours: " + c + " | xception | 105 | 31 / 2 / 3 / 69 |",
		// the paper's rows, from paper-facts.md
		"| *paper* | mobilenet | 1160 | 330 / 15 / 29 / 786 | 0.962 | 0.92 | 0.96 | 0.94 | 0.98 | 0.96 | 0.97 |",
		"| *paper* | xception | 1160 | 304 / 39 / 26 / 791 | 0.944 | 0.92 | 0.89 | 0.90 | 0.95 | 0.97 | 0.96 |",
		"| *paper* | inceptionv3 | 1160 | 279 / 29 / 26 / 826 | 0.953 | 0.91 | 0.91 | 0.91 | 0.97 | 0.97 | 0.97 |",
		"Warning:",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
	out := t.TempDir()
	if err := Write(out, diff); err != nil {
		t.Fatal(err)
	}
	chart, err := os.ReadFile(filepath.Join(out, ChartFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(chart)); err != nil || cfg.Width < 400 || cfg.Height < 400 {
		t.Errorf("%s: %dx%d pixels, %v", ChartFile, cfg.Width, cfg.Height, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, File)); string(b) != md {
		t.Error("compare.md differs from Markdown()")
	}
}

func TestCompareWarnsOnUnknownModel(t *testing.T) {
	r := fakeRun(t, "", "eval-test", fromConfusion(3, 1, 1, 5))
	c, err := Load([]string{r})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "model unknown") {
		t.Errorf("warnings %v", c.Warnings)
	}
}
