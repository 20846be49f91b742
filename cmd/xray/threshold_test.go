package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// A model's stored operating threshold reaches predict (--decision threshold, decision_id)
// and evaluate (--split all on a plain folder, --decision threshold).
func TestThresholdDecisionCLI(t *testing.T) {
	plainDir, files, want := predictFixture(t) // exported without a threshold
	p1 := []float64{float64(want[0][1]), float64(want[1][1]), float64(want[2][1])}
	s := slices.Clone(p1)
	slices.Sort(s)
	th := decision.Threshold{Rule: decision.Youden, Value: (s[0] + s[1]) / 2} // two of three above
	m, sess := savedmodelstest.TinyModel(t, 32, 21)                           // predictFixture's weights
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{Threshold: &th}); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, append([]string{"predict", "--savedmodel", dir, "--decision", "threshold"}, files...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, l := range lines {
		wantClass := "normal"
		if p1[i] >= th.Value {
			wantClass = "pneumonia"
		}
		if f := strings.Split(l, "\t"); len(f) != 3 || f[1] != wantClass {
			t.Errorf("line %q: p_pneumonia %.4f, threshold %.4f: want %s", l, p1[i], th.Value, wantClass)
		}
	}
	code, stdout, _ = runCLI(t, append([]string{"predict", "--savedmodel", dir, "--json"}, files...)...)
	dec := json.NewDecoder(strings.NewReader(stdout))
	for i := range files {
		var r struct {
			DecisionID *int `json:"decision_id"`
		}
		if err := dec.Decode(&r); err != nil || code != exitOK || r.DecisionID == nil || (*r.DecisionID == 1) != (p1[i] >= th.Value) {
			t.Errorf("--json %d: decision_id %v (%v), p_pneumonia %.4f, threshold %.4f", i, r.DecisionID, err, p1[i], th.Value)
		}
	}
	code, _, stderr = runCLI(t, "predict", "--savedmodel", plainDir, "--decision", "threshold", files[0])
	if code != exitFailure || !strings.Contains(stderr, "no operating threshold") || !strings.Contains(stderr, "--decision argmax") {
		t.Errorf("model without a threshold: exit %d %q", code, stderr)
	}

	data := filepath.Join("..", "..", "testdata", "chest_xray", "test") // plain: 16 normal + 17 pneumonia
	out := filepath.Join(t.TempDir(), "eval")
	code, stdout, stderr = runCLI(t, "evaluate", "--savedmodel", dir, "--data", data, "--split", "all",
		"--decision", "threshold", "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("evaluate exit %d: %s", code, stderr)
	}
	var met struct {
		N         int       `json:"n"`
		Confusion [2][2]int `json:"confusion_matrix"`
		Decisions []struct {
			Rule      string    `json:"rule"`
			Threshold *float64  `json:"threshold"`
			Confusion [2][2]int `json:"confusion_matrix"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(stdout), &met); err != nil {
		t.Fatal(err)
	}
	if met.N != 33 || len(met.Decisions) != 2 || met.Decisions[1].Threshold == nil || *met.Decisions[1].Threshold != th.Value ||
		met.Decisions[1].Rule != "youden" || met.Confusion != met.Decisions[1].Confusion {
		t.Errorf("evaluate --split all --decision threshold: %+v", met)
	}
	if r := met.Confusion; r[0][0]+r[0][1] != 16 || r[1][0]+r[1][1] != 17 {
		t.Errorf("labels per class %v, want the folders' 16 and 17", r)
	}
	code, _, stderr = runCLI(t, "evaluate", "--savedmodel", plainDir, "--data", data, "--split", "all", "--decision", "threshold", "--out", out)
	if code != exitFailure || !strings.Contains(stderr, "no operating threshold") || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
		t.Errorf("evaluate --decision threshold without one: exit %d %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "evaluate", "--savedmodel", dir, "--split", "all")
	if code != exitUsage || !strings.Contains(stderr, "--split all needs --data") {
		t.Errorf("--split all without --data: exit %d %q", code, stderr)
	}
}

// Bad --threshold and --scheme values are refused before anything is written.
func TestTrainThresholdAndSchemeFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	data := filepath.Join("..", "..", "testdata", "chest_xray")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threshold", "median"}, "unknown threshold rule \"median\""},
		{[]string{"--threshold", "sensitivity:2"}, "sensitivity must be a number in (0, 1]"},
		{[]string{"--scheme", "random"}, "unknown split scheme \"random\""},
		{[]string{"--val-from-folder"}, "needs the kaggle scheme"},
	} {
		code, _, stderr := runCLI(t, append([]string{"train", "--data", data, "--out", out, "--weights", "none"}, tc.args...)...)
		if code == exitOK || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want a refusal with %q", tc.args, code, stderr, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused run touched %s", out)
	}
}
