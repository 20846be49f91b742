package evaluator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// evalFixture exports a tiny SavedModel and copies testdata's Kaggle tree, split by
// folder into a manifest beside the model, as a training run leaves them.
func evalFixture(t *testing.T, meta savedmodels.Metadata) (sm, data, manifest string) {
	t.Helper()
	run := t.TempDir()
	m, sess := savedmodelstest.TinyModel(t, 32, 5)
	sm = filepath.Join(run, "savedmodel")
	if err := savedmodels.Export(sm, sess, m, meta); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(t.TempDir(), "chest_xray")
	if err := os.CopyFS(data, os.DirFS(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray"))); err != nil {
		t.Fatal(err)
	}
	cfg := dataset.DefaultManifestConfig()
	cfg.Data, cfg.Out = data, filepath.Join(run, "manifest.csv")
	cfg.Split.Scheme, cfg.Split.ValFromFolder = dataset.Kaggle, true
	if _, err := dataset.MakeManifest(cfg); err != nil {
		t.Fatal(err)
	}
	return sm, data, cfg.Out
}

// A file replaced after the split fails the evaluation with dataset.ErrChanged instead of
// being evaluated silently (issue 16).
func TestPredictSplitChecksManifestSHA256(t *testing.T) {
	sm, data, _ := evalFixture(t, savedmodels.Metadata{})
	recs, _, err := PredictSplit(context.Background(), SavedModelInput{SavedModel: sm, Split: "val"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 {
		t.Fatalf("%d records, want the val/ folder's 6", len(recs))
	}
	victim := filepath.Join(data, filepath.FromSlash(recs[0].Path))
	other := filepath.Join(data, filepath.FromSlash(recs[len(recs)-1].Path))
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, b, 0o644); err != nil { // a valid X-ray, not the split's
		t.Fatal(err)
	}
	_, _, err = PredictSplit(context.Background(), SavedModelInput{SavedModel: sm, Split: "val"})
	if !errors.Is(err, dataset.ErrChanged) {
		t.Fatalf("replaced file: err %v, want dataset.ErrChanged", err)
	}
}
