package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// predictFixture exports a tiny model and returns its directory, real X-ray files and
// the live graph's probabilities for them (Go preprocessing, then the graph in memory).
func predictFixture(t *testing.T) (dir string, files []string, want [][]float32) {
	t.Helper()
	const size = 32
	m, sess := savedmodelstest.TinyModel(t, size, 21)
	dir = filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "cli"}); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../testdata/chest_xray/test/*/*.jpeg")
	if err != nil || len(files) < 3 {
		t.Fatalf("X-rays in testdata/chest_xray/test: %v", err)
	}
	files = []string{files[0], files[len(files)/2], files[len(files)-1]}
	pre := preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}
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
	if err := x.Reshape([]int64{int64(len(files)), size, size, 3}); err != nil {
		t.Fatal(err)
	}
	out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, []tf.Output{m.Probs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, files, out[0].Value().([][]float32)
}

func label(p []float32) (string, int) {
	if p[1] > p[0] {
		return "pneumonia", 1
	}
	return "normal", 0
}

func TestPredict(t *testing.T) {
	dir, files, want := predictFixture(t)

	code, stdout, stderr := runCLI(t, append([]string{"predict", "--savedmodel", dir}, files...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !gpuVisible(t) && !strings.Contains(stderr, "xray: predicting on CPU (TensorFlow sees no GPU)\n") {
		t.Errorf("predict does not log its device: %q", stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(files) {
		t.Fatalf("%d lines for %d files:\n%s", len(lines), len(files), stdout)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		lab, c := label(want[i])
		if len(f) != 3 || f[0] != files[i] || f[1] != lab {
			t.Errorf("line %d %q: want %s<TAB>%s<TAB>p", i, l, files[i], lab)
			continue
		}
		p, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Errorf("line %d: probability %q: %v", i, f[2], err)
		}
		approx.Within(t, fmt.Sprintf("line %d: probability (4 decimals) vs live graph", i), []float64{p}, want[i][c:c+1], approx.Abs, 5e-5)
	}

	code, stdout, stderr = runCLI(t, append([]string{"predict", "--savedmodel", dir, "--json"}, files...)...)
	if code != exitOK {
		t.Fatalf("--json exit %d: %s", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	for i := range files {
		var r struct {
			File          string     `json:"file"`
			Class         string     `json:"class"`
			ClassID       int        `json:"class_id"`
			Probability   float64    `json:"probability"`
			Probabilities [2]float64 `json:"probabilities"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("--json object %d: %v\n%s", i, err, stdout)
		}
		lab, c := label(want[i])
		if r.File != files[i] || r.Class != lab || r.ClassID != c || r.Probability != r.Probabilities[c] {
			t.Errorf("--json object %d: %+v, live graph %v", i, r, want[i])
		}
		approx.Within(t, fmt.Sprintf("--json object %d: probabilities vs live graph", i), r.Probabilities[:], want[i], approx.Abs, 1e-5)
	}
}

// TestPredictBadFiles: a bad file gets its error line, the others are still predicted,
// the exit status is 1.
func TestPredictBadFiles(t *testing.T) {
	dir, files, want := predictFixture(t)
	missing := filepath.Join(t.TempDir(), "missing.jpeg")
	args := []string{"predict", "--savedmodel", dir, files[0], "../../testdata/bad/notes.jpeg", missing, files[1]}
	code, stdout, stderr := runCLI(t, args...)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if !strings.Contains(stderr, "2 of 4 images could not be predicted") {
		t.Errorf("stderr %q", stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines for 4 files:\n%s", len(lines), stdout)
	}
	for k, i := range map[int]int{0: 0, 3: 1} {
		lab, _ := label(want[i])
		if !strings.HasPrefix(lines[k], files[i]+"\t"+lab+"\t") {
			t.Errorf("line %d %q: want %s predicted %s", k, lines[k], files[i], lab)
		}
	}
	for k, f := range map[int]string{1: "../../testdata/bad/notes.jpeg", 2: missing} {
		if !strings.HasPrefix(lines[k], f+"\terror\t") {
			t.Errorf("line %d %q: want an error line for %s", k, lines[k], f)
		}
	}

	code, stdout, _ = runCLI(t, "predict", "--savedmodel", dir, "--json", missing)
	var r map[string]string
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitFailure || r["file"] != missing || r["error"] == "" {
		t.Errorf("--json on a missing file: exit %d, %q (%v)", code, stdout, err)
	}
}

func TestPredictUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", "x.jpeg"}, exitUsage, "--savedmodel"},
		{[]string{"predict", "--savedmodel", dir}, exitUsage, "IMAGE"},
		{[]string{"predict", "--savedmodel", dir, "--batch", "0", "x.jpeg"}, exitUsage, "--batch"},
		{[]string{"predict", "--savedmodel", filepath.Join(dir, "none"), "x.jpeg"}, exitFailure, "load SavedModel"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d %q, want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
