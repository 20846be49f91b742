package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// TestEnsembleCLI: xray ensemble of two members with weights and a threshold chosen on a
// plain folder; the threshold is the rule's choice on the ensemble's own predictions of
// that folder, and xray predict on the ensemble prints the weighted mean of the members'.
func TestEnsembleCLI(t *testing.T) {
	a, files, _ := predictFixture(t) // 32 px, seed 21
	m, sess := savedmodelstest.TinyModel(t, 32, 22)
	b := filepath.Join(t.TempDir(), "b")
	if err := export.SavedModel(b, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join("..", "..", "testdata", "chest_xray", "test") // plain NORMAL/PNEUMONIA
	out := filepath.Join(t.TempDir(), "ens")
	code, _, stderr := runCLI(t, "ensemble", "--savedmodel", a, "--savedmodel", b, "--weights", "1,3",
		"--data", data, "--split", "all", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}

	all, err := filepath.Glob(filepath.Join(data, "*", "*.jpeg"))
	if err != nil || len(all) < 10 {
		t.Fatalf("testdata: %d files, %v", len(all), err)
	}
	ens, err := savedmodels.Load(out, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ens.Close()
	preds, err := ens.PredictFile(context.Background(), all...)
	if err != nil {
		t.Fatal(err)
	}
	truth := make([]int, len(all))
	scores := make([]float64, len(all))
	for i, p := range preds {
		if strings.Contains(all[i], "PNEUMONIA") {
			truth[i] = 1
		}
		scores[i] = float64(p.Probabilities[1])
	}
	want, err := decision.Youden.Choose(truth, scores)
	if err != nil {
		t.Fatal(err)
	}
	got := ens.Metadata().Threshold
	if got == nil || got.Rule != want.Rule {
		t.Fatalf("threshold %v, want %v", got, want)
	}
	approx.Within(t, "threshold", []float64{got.Value}, []float64{want.Value}, approx.Abs, 1e-6)

	// predict works on the ensemble unchanged: the weighted mean of the members'.
	wantP := make([][]float64, len(files))
	for k, d := range []string{a, b} {
		w := []float64{0.25, 0.75}[k]
		for i, p := range predictJSON(t, d, files) {
			if wantP[i] == nil {
				wantP[i] = make([]float64, len(p))
			}
			for j, v := range p {
				wantP[i][j] += w * v
			}
		}
	}
	approx.WithinRows(t, "xray predict on the ensemble", predictJSON(t, out, files), wantP, approx.Abs, 1e-6)

	// evaluate (with its errors page of explanations) and explain take it as any model.
	code, _, stderr = runCLI(t, "evaluate", "--savedmodel", out, "--data", data, "--split", "all", "--out", filepath.Join(t.TempDir(), "eval"))
	if code != exitOK || !strings.Contains(stderr, "wrote errors.html") {
		t.Errorf("evaluate on the ensemble: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "explain", "--savedmodel", out, "--out", filepath.Join(t.TempDir(), "heat"), files[0])
	if code != exitOK || strings.Count(stdout, "\n") != 1 {
		t.Errorf("explain on the ensemble: exit %d: %s%s", code, stdout, stderr)
	}
}

// predictJSON runs xray predict --json and returns each file's probabilities.
func predictJSON(t *testing.T, dir string, files []string) [][]float64 {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"predict", "--savedmodel", dir, "--json"}, files...)...)
	if code != exitOK {
		t.Fatalf("predict %s: exit %d: %s", dir, code, stderr)
	}
	var out [][]float64
	dec := json.NewDecoder(strings.NewReader(stdout))
	for range files {
		var r struct {
			Probabilities []float64 `json:"probabilities"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Probabilities)
	}
	return out
}

// TestEnsembleCLIBadInput: each mistake exits with a usage line naming its flag, or
// names the member directory, and writes nothing.
func TestEnsembleCLIBadInput(t *testing.T) {
	a, _, _ := predictFixture(t)
	m3, s3 := savedmodelstest.TinyModelClasses(t, 32, 23, 3)
	three := filepath.Join(t.TempDir(), "three")
	if err := export.SavedModel(three, s3, m3, savedmodels.Metadata{Classes: []string{"normal", "bacterial", "viral"}}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-model")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--savedmodel", a, "--out", ""}, exitUsage, "--out"},
		{[]string{"--out", "x"}, exitUsage, "--savedmodel"},
		{[]string{"--savedmodel", a, "--savedmodel", a, "--weights", "1,x"}, exitUsage, "--weights"},
		{[]string{"--savedmodel", a, "--savedmodel", a, "--weights", "1"}, exitUsage, "--weights"},
		{[]string{"--savedmodel", a, "--savedmodel", a, "--weights", "0,0"}, exitUsage, "--weights"},
		{[]string{"--savedmodel", a, "--savedmodel", a, "--weights", "1,-2"}, exitUsage, "--weights"},
		{[]string{"--savedmodel", a, "--tta", "9"}, exitUsage, "--tta"},
		{[]string{"--savedmodel", a, "--savedmodel", three}, exitUsage, "--savedmodel"},
		{[]string{"--savedmodel", a, "--savedmodel", missing}, exitFailure, missing},
	} {
		out := filepath.Join(t.TempDir(), "ens")
		args := append([]string{"ensemble"}, c.args...)
		if !strings.Contains(strings.Join(c.args, " "), "--out") {
			args = append(args, "--out", out)
		}
		code, _, stderr := runCLI(t, args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, stderr, c.code, c.want)
		}
		if _, err := savedmodels.SignatureDefs(out); err == nil {
			t.Errorf("%v: wrote %s", c.args, out)
		}
	}
}
