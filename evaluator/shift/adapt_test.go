package shift

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/adapt"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

// adaptFixture exports a MobileNet with BatchNormalization statistics away from the
// images' own (savedmodelstest.Backbone, at its smallest input) beside a manifest of
// testdata's Kaggle tree split by folder (train 122, val 6, test 33 images).
func adaptFixture(t *testing.T) (sm, manifest string) {
	t.Helper()
	run := t.TempDir()
	cfg := tfgraph.Config{Arch: tfgraph.MobileNet, InputSize: tfgraph.MinInputSize(tfgraph.MobileNet), Classes: 2, Seed: 5}
	m, sess := savedmodelstest.Backbone(t, cfg)
	sm = filepath.Join(run, "savedmodel")
	if err := export.SavedModel(sm, sess, m, savedmodels.Metadata{RunID: "shift-adapt-test"}); err != nil {
		t.Fatal(err)
	}
	mc := dataset.DefaultManifestConfig()
	mc.Data, mc.Out = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray"), filepath.Join(run, "manifest.csv")
	mc.Split.Scheme, mc.Split.ValFromFolder = dataset.Kaggle, true
	if _, err := dataset.MakeManifest(mc); err != nil {
		t.Fatal(err)
	}
	return sm, mc.Out
}

// writeVariant writes the manifest images paths (under root) perturbed by p as lossless
// PNGs into dir, in a class folder each (for predict.Split's AllImages), and returns the
// files in the order of paths with a map from a file's path relative to dir back to its
// manifest path.
func writeVariant(t *testing.T, root, dir string, paths []string, p perturb.Perturbation) ([]string, map[string]string) {
	t.Helper()
	var files []string
	back := map[string]string{}
	for i, rel := range paths {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := preprocess.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = perturb.Apply(img, p, perturb.Seed(rel)); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s/%03d.png", filepath.Base(filepath.Dir(rel)), i)
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		files, back[name] = append(files, dst), rel
	}
	return files, back
}

// TestShiftAdapt runs shiftAdaptMatchesDirect and shiftAdaptBadInput on one fixture.
func TestShiftAdapt(t *testing.T) {
	sm, manifest := adaptFixture(t)
	t.Run("matches direct", func(t *testing.T) { shiftAdaptMatchesDirect(t, sm, manifest) })
	t.Run("bad input", func(t *testing.T) { shiftAdaptBadInput(t, sm, manifest) })
}

// shiftAdaptMatchesDirect: with adaptation, each row's adapted model equals
// adapt.Run (xray adapt) run on the sample's images perturbed alike and written
// as lossless PNGs (the original files for the clean row), scored by predict.Split and
// evaluator.Evaluate on the evaluated split's perturbed PNGs: probabilities per image within 1e-6
// and every metric; the unadapted column equals the source model's alike. In batch mode
// with two batches, so the order of the images matters too; the layerwise mode (one pass
// per level of layers, ~10 times the cost) is the same call with Mode forwarded, which
// the bad-mode case shows, and savedmodels' tests check it against Python.
func shiftAdaptMatchesDirect(t *testing.T, sm, manifest string) {
	man, err := dataset.ReadManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	perts, err := perturb.Parse("contrast-3")
	if err != nil {
		t.Fatal(err)
	}
	var events []progress.Event
	tmp := t.TempDir()
	in := Input{Input: predict.Input{SavedModel: sm, Manifest: manifest, Split: "test",
		Progress: func(e progress.Event) { events = append(events, e) }}, Perturbations: perts,
		Adapt: &Adapt{Split: "train", Mode: adapt.Batch, Images: 40, BatchSize: 16, TempDir: tmp}}
	rep, err := Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, rep, man)
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary files left in %s: %v", tmp, left)
	}
	if last := events[len(events)-1]; last.Done != last.Total || !slices.ContainsFunc(events, func(e progress.Event) bool {
		return strings.HasSuffix(e.Task, adapt.TaskStats)
	}) {
		t.Errorf("progress: last event %+v, want Done = Total after adaptation's events", last)
	}
	for v, name := range variantNames(perts) {
		p := perturb.Perturbation{}
		if v > 0 {
			p = perts[v-1]
		}
		checkAdaptedRow(t, sm, man, rep, v, name, p, adapt.Batch, 16)
	}
	checkShiftFiles(t, rep, len(perts))
}

// checkSample: the sample is Images distinct images of the adaptation split.
func checkSample(t *testing.T, rep *Report, man *dataset.Manifest) {
	t.Helper()
	a := rep.Adaptation
	train := map[string]bool{}
	for _, e := range man.Subset(dataset.Train) {
		train[e.Path] = true
	}
	seen := map[string]bool{}
	for _, p := range a.Paths {
		if !train[p] || seen[p] {
			t.Errorf("adapted on %s: not a train image, or twice", p)
		}
		seen[p] = true
	}
	if a.Images != 40 || len(a.Paths) != 40 || a.Split != "train" {
		t.Errorf("adaptation %+v (%d paths), want 40 train images", a, len(a.Paths))
	}
}

// checkAdaptedRow adapts with adapt.Run on files and compares row v.
func checkAdaptedRow(t *testing.T, sm string, man *dataset.Manifest, rep *Report, v int, name string, p perturb.Perturbation, mode string, batch int) {
	t.Helper()
	dir := t.TempDir()
	var test []string
	for _, e := range man.Subset(dataset.Test) {
		test = append(test, e.Path)
	}
	adaptFiles := make([]string, len(rep.Adaptation.Paths))
	for i, rel := range rep.Adaptation.Paths {
		adaptFiles[i] = filepath.Join(man.Root, filepath.FromSlash(rel))
	}
	data, back := filepath.Join(man.Root, "test"), map[string]string(nil)
	if v > 0 {
		adaptFiles, _ = writeVariant(t, man.Root, filepath.Join(dir, "adapt"), rep.Adaptation.Paths, p)
		data = filepath.Join(dir, "test")
		_, back = writeVariant(t, man.Root, data, test, p)
	}
	adapted := filepath.Join(dir, "adapted")
	src := func(yield func(string, error) bool) {
		for _, f := range adaptFiles {
			if !yield(f, nil) {
				return
			}
		}
	}
	if _, err := adapt.Run(context.Background(), sm, adapted, src, adapt.Options{Mode: mode, BatchSize: batch}); err != nil {
		t.Fatal(err)
	}
	row := rep.Rows[v]
	var diff []float64
	for _, c := range []struct {
		model, what string
		recs        []evaluator.Record
		want        Scores
	}{{sm, "unadapted", rep.Records[name], row.Scores}, {adapted, "adapted", rep.AdaptedRecords[name], *row.Adapted}} {
		direct, _, err := predict.Split(context.Background(), predict.Input{SavedModel: c.model, Data: data, Split: predict.AllImages})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, r := range c.recs {
			got[r.Path] = r.Probs[1]
		}
		var g, w []float64
		for _, r := range direct {
			path := "test/" + r.Path
			if back != nil {
				path = back[r.Path]
			}
			g, w = append(g, got[path]), append(w, r.Probs[1])
		}
		if len(g) != len(test) || len(c.recs) != len(test) {
			t.Fatalf("%s %s: %d records, %d direct, want %d", name, c.what, len(c.recs), len(g), len(test))
		}
		approx.Within(t, name+" "+c.what+" p_pneumonia, shift vs direct", g, w, approx.Abs, 1e-6)
		diff = append(diff, g...)
		want, err := evaluator.Evaluate(direct, evaluator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		wm := want.Metrics
		approx.Within(t, name+" "+c.what+" accuracy, sensitivity, specificity, AUC",
			[]float64{c.want.Accuracy, *c.want.Sensitivity, *c.want.Specificity, *c.want.ROCAUC},
			[]float64{wm.Accuracy, wm.Sensitivity.Estimate, wm.Specificity.Estimate, *wm.ROCAUC}, approx.Abs, 1e-9)
	}
	// The adaptation must move the predictions, or the comparison proves nothing.
	if d, _ := approx.Compare(diff[:len(test)], diff[len(test):], approx.Abs); d.Max < 1e-3 {
		t.Errorf("%s: adapting changed p_pneumonia by at most %g", name, d.Max)
	}
}

// checkShiftFiles: the written report has the adapted columns.
func checkShiftFiles(t *testing.T, rep *Report, perts int) {
	t.Helper()
	_, rows, err := writeReport(t, rep)
	if err != nil || len(rows) != 2+perts || len(rows[0]) != 12 || rows[0][8] != "adapted_accuracy" {
		t.Errorf("shift.csv: %v, %v; want a header with the adapted columns and %d rows", rows, err, 1+perts)
	}
	if md := rep.Markdown(); !strings.Contains(md, "| accuracy | adapted |") || !strings.Contains(md, "mode) on 40 images of the train split") {
		t.Errorf("shift.md does not say it is adapted:\n%s", md)
	}
	t.Logf("\n%s", rep.Markdown())
}

// shiftAdaptBadInput: each mistake is a clear, typed error before any work, and no
// temporary SavedModel is left.
func shiftAdaptBadInput(t *testing.T, sm, manifest string) {
	tiny := filepath.Join(t.TempDir(), "tiny")
	m, sess := savedmodelstest.TinyModel(t, 32, 5)
	if err := export.SavedModel(tiny, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, c := range []struct {
		name, model, split string
		adapt              Adapt
		want               error
		field              string
	}{
		{"same split", sm, "test", Adapt{Split: "test"}, tfgraph.ErrInvalidConfig, FieldAdaptSplit},
		{"default split is test", sm, "", Adapt{Split: "test"}, tfgraph.ErrInvalidConfig, FieldAdaptSplit},
		{"evaluating all", sm, predict.AllImages, Adapt{Split: "val"}, tfgraph.ErrInvalidConfig, FieldAdaptSplit},
		{"no split", sm, "test", Adapt{}, tfgraph.ErrInvalidConfig, FieldAdaptSplit},
		{"too few asked", sm, "test", Adapt{Split: "train", Images: 31}, tfgraph.ErrInvalidConfig, FieldAdaptImages},
		{"too few in the split", sm, "test", Adapt{Split: "val"}, adapt.ErrTooFewImages, ""},
		{"bad mode", sm, "test", Adapt{Split: "train", Mode: "running"}, tfgraph.ErrInvalidConfig, "Mode"},
		{"no batch norm", tiny, "test", Adapt{Split: "train"}, adapt.ErrNoBatchNorm, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := c.adapt
			a.TempDir = tmp
			_, err := Run(context.Background(), Input{Input: predict.Input{SavedModel: c.model, Manifest: manifest, Split: c.split},
				Perturbations: []perturb.Perturbation{}, Adapt: &a})
			var ce *tfgraph.ConfigError
			if !errors.Is(err, c.want) || (c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field)) {
				t.Fatalf("got %v, want %v (field %q)", err, c.want, c.field)
			}
			t.Log(err)
		})
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary files left in %s: %v", tmp, left)
	}
}
