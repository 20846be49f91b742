package savedmodels_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// A model of three classes exports with their names in order, serves probabilities
// [-1, 3] (in Python TensorFlow too) and predicts what the live graph computes.
func TestExportThreeClasses(t *testing.T) {
	m, sess := savedmodelstest.TinyModelClasses(t, 32, 11, 3)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	three := labels.Subtypes().Names()
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{Classes: three, RunID: "three"}); err != nil {
		t.Fatal(err)
	}
	paths := savedmodelstest.Xrays(t, 6)
	files := savedmodelstest.ReadFiles(t, paths)
	pixels := savedmodelstest.GoPixels(t, preprocess.Preprocessor{Size: 32, Scaling: preprocess.Unit}, files)
	live := liveProbs(t, sess, m, pixels)
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if got := model.Metadata().Classes; !slices.Equal(got, three) {
		t.Errorf("metadata classes %q, want %q", got, three)
	}
	preds, err := model.PredictBytes(context.Background(), files...)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]float32, len(preds))
	for i, p := range preds {
		if p.Err != nil || len(p.Probabilities) != 3 {
			t.Fatalf("%s: %d probabilities, error %v", paths[i], len(p.Probabilities), p.Err)
		}
		got[i] = p.Probabilities
		if want := savedmodels.ArgmaxClass(live[i]); p.Class != want || p.Decision != want || p.Label != three[want] {
			t.Errorf("%s: class %d decision %d %q, live argmax %d", paths[i], p.Class, p.Decision, p.Label, want)
		}
	}
	approx.WithinRows(t, "Predict vs live graph", got, live, approx.Abs, roundTripTol)
	py := pythonCheck(t, dir, pixels, paths)
	approx.WithinRows(t, "Python serving_default vs live graph", py.Default.Probabilities, live, approx.Abs, roundTripTol)
	checkPythonSignatures(t, py, 32, 3)

	// A threshold on p(pneumonia) means nothing for three classes; names must match the outputs.
	th := &decision.Threshold{Rule: decision.Youden, Value: 0.5}
	if err := export.SavedModel(filepath.Join(t.TempDir(), "t"), sess, m, savedmodels.Metadata{Classes: three, Threshold: th}); !errors.Is(err, decision.ErrNotBinary) {
		t.Errorf("three classes with a threshold: error %v, want decision.ErrNotBinary", err)
	}
	if err := export.SavedModel(filepath.Join(t.TempDir(), "d"), sess, m, savedmodels.Metadata{}); err == nil || !strings.Contains(err.Error(), "2 class names") {
		t.Errorf("default (two) names for three outputs: error %v", err)
	}
}

// testdata/savedmodel-2class was exported by xray before it knew more than two classes
// (commit 41db683: TinyModel(32, seed 19), Youden threshold 0.45). It still loads and
// predicts what Python TensorFlow computes from the same file, decides by its threshold,
// and names the paper's classes.
func TestTwoClassModelFromBeforeClasses(t *testing.T) {
	dir := filepath.Join(pyref.RepoRoot(), "testdata", "savedmodel-2class")
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	meta := model.Metadata()
	if !slices.Equal(meta.Classes, labels.Default().Names()) || meta.Threshold == nil || meta.Threshold.Value != 0.45 || meta.InputSize != 32 {
		t.Fatalf("metadata %+v", meta)
	}
	paths := savedmodelstest.Xrays(t, 8)
	files := savedmodelstest.ReadFiles(t, paths)
	pixels := savedmodelstest.GoPixels(t, preprocess.Preprocessor{Size: 32, Scaling: preprocess.Unit}, files)
	preds, err := model.PredictBytes(context.Background(), files...)
	if err != nil {
		t.Fatal(err)
	}
	py := pythonCheck(t, dir, pixels, paths)
	got := make([][]float32, len(preds))
	for i, p := range preds {
		if p.Err != nil || len(p.Probabilities) != 2 {
			t.Fatalf("%s: %d probabilities, error %v", paths[i], len(p.Probabilities), p.Err)
		}
		got[i] = p.Probabilities
		want := py.Default.Probabilities[i]
		decide := labels.Normal
		if want[1] >= 0.45 {
			decide = labels.Pneumonia
		}
		if p.Class != py.Default.ClassID[i] || p.Decision != decide || p.Label != labels.Default().Name(p.Class) {
			t.Errorf("%s: class %d decision %d %q; Python class %d, threshold 0.45 on %v gives %d", paths[i], p.Class, p.Decision, p.Label, py.Default.ClassID[i], want, decide)
		}
	}
	approx.WithinRows(t, "Predict vs Python serving_default", got, py.Default.Probabilities, approx.Abs, roundTripTol)
	if out := py.Signatures[savedmodels.SignatureDefault].Outputs[savedmodels.OutputProbabilities]; fmt.Sprint(out.Shape) != "[-1 2]" {
		t.Errorf("Python sees probabilities of shape %v, want [-1 2]", out.Shape)
	}
}
