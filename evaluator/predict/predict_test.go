package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// evalFixture exports a tiny SavedModel and copies testdata's Kaggle tree, split by
// folder into a manifest beside the model, as a training run leaves them.
func evalFixture(t *testing.T, meta savedmodels.Metadata) (sm, data, manifest string) {
	t.Helper()
	run := t.TempDir()
	m, sess := savedmodelstest.TinyModel(t, 32, 5)
	sm = filepath.Join(run, "savedmodel")
	if err := export.SavedModel(sm, sess, m, meta); err != nil {
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
	recs, _, err := Split(context.Background(), Input{SavedModel: sm, Split: "val"})
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
	_, _, err = Split(context.Background(), Input{SavedModel: sm, Split: "val"})
	if !errors.Is(err, dataset.ErrChanged) {
		t.Fatalf("replaced file: err %v, want dataset.ErrChanged", err)
	}
}

// Split AllImages evaluates every image of a folder without a manifest, plain or Kaggle
// layout (a bad file skipped with a Warn record to the Logger), and the model's stored
// threshold comes back with the records.
func TestPredictAllImagesAndThreshold(t *testing.T) {
	th := decision.Threshold{Rule: decision.Youden, Value: 0.37}
	sm, data, _ := evalFixture(t, savedmodels.Metadata{Threshold: &th})
	ctx := context.Background()
	plain := filepath.Join(data, "test") // NORMAL/ and PNEUMONIA/: 16 + 17 images
	if err := os.WriteFile(filepath.Join(plain, "NORMAL", "empty.jpeg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var events []progress.Event
	var logged bytes.Buffer
	recs, meta, err := Split(ctx, Input{SavedModel: sm, Data: plain, Split: AllImages, BatchSize: 10,
		Progress: func(e progress.Event) { events = append(events, e) }, Logger: progress.Lines(&logged, "")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "warning: skipped NORMAL/empty.jpeg: empty file\n"; logged.String() != want {
		t.Errorf("logged %q, want %q", logged.String(), want)
	}
	// 33 images in batches of 10: reports after 10, 20, 30 and 33
	var done []int64
	for _, e := range events {
		if e.Task != "evaluate all" || e.Total != 33 || e.Unit != "img" {
			t.Errorf("progress event %+v, want task \"evaluate all\" of 33 img", e)
		}
		done = append(done, e.Done)
	}
	if !slices.Equal(done, []int64{10, 20, 30, 33}) {
		t.Errorf("progress done %v, want [10 20 30 33]", done)
	}
	var perClass [2]int
	for _, r := range recs {
		perClass[r.Label]++
		if want := map[bool]int{false: labels.Normal, true: labels.Pneumonia}[strings.HasPrefix(r.Path, "PNEUMONIA/")]; r.Label != want {
			t.Errorf("%s: label %d, want %d from its folder", r.Path, r.Label, want)
		}
	}
	if perClass != [2]int{16, 17} {
		t.Errorf("plain tree: %v images per class, want the folders' [16 17]", perClass)
	}
	if meta.Threshold == nil || *meta.Threshold != th {
		t.Fatalf("threshold %v, exported %v", meta.Threshold, th)
	}
	all, _, err := Split(ctx, Input{SavedModel: sm, Data: data, Split: AllImages})
	if err != nil || len(all) != 161 {
		t.Fatalf("Kaggle tree: %d records, %v; want all 161 images", len(all), err)
	}

	rep, err := evaluator.Evaluate(recs, evaluator.Options{Threshold: meta.Threshold, ByThreshold: true})
	if err != nil {
		t.Fatal(err)
	}
	var want [2][2]int
	for _, r := range recs {
		pred := 0
		if r.Probs[1] >= th.Value {
			pred = 1
		}
		want[r.Label][pred]++
	}
	m := rep.Metrics
	if m.Confusion != want || len(m.Decisions) != 2 || m.Decisions[1].Confusion != want || m.Decisions[1].Rule != "youden" {
		t.Errorf("thresholded confusion %v, decisions %+v; counted by hand %v", m.Confusion, m.Decisions, want)
	}
	if m.Decisions[0].Rule != "argmax" {
		t.Errorf("first decision %q, want argmax", m.Decisions[0].Rule)
	}
	if _, err := evaluator.Evaluate(recs, evaluator.Options{ByThreshold: true}); !errors.Is(err, evaluator.ErrNoThreshold) {
		t.Errorf("threshold decision without a threshold: %v, want ErrNoThreshold", err)
	}
	if _, _, err := Split(ctx, Input{SavedModel: sm, Split: AllImages}); err == nil || !strings.Contains(err.Error(), "needs the data folder") {
		t.Errorf("all images without data or manifest: %v", err)
	}
}

// A three-class model (normal, bacterial, viral) on a three-class manifest is evaluated
// in the paper's normal-vs-pneumonia view: p_pneumonia = p_bacterial + p_viral, label
// pneumonia for bacterial and viral images, the model's own probabilities otherwise.
func TestPredictSplitThreeClassesAsNormalVsPneumonia(t *testing.T) {
	run := t.TempDir()
	m, sess := savedmodelstest.TinyModelClasses(t, 32, 5, 3)
	sm := filepath.Join(run, "savedmodel")
	if err := export.SavedModel(sm, sess, m, savedmodels.Metadata{Classes: labels.Subtypes().Names()}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray")
	cfg := dataset.DefaultManifestConfig()
	cfg.Data, cfg.Out, cfg.Classes = data, filepath.Join(run, "manifest.csv"), labels.Subtypes()
	cfg.Split.Scheme, cfg.Split.ValFromFolder = dataset.Kaggle, true
	rep, err := dataset.MakeManifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := Split(context.Background(), Input{SavedModel: sm, Split: "test"})
	if err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(sm, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	test := rep.Manifest.Subset(dataset.Test)
	if len(recs) != len(test) {
		t.Fatalf("%d records, want %d", len(recs), len(test))
	}
	var truth []int
	var probs [][]float64
	for i, e := range test {
		preds, err := model.PredictFile(context.Background(), filepath.Join(data, filepath.FromSlash(e.Path)))
		if err != nil || preds[0].Err != nil {
			t.Fatal(err, preds[0].Err)
		}
		p := preds[0].Probabilities
		want := evaluator.Record{Path: e.Path, Label: map[int]int{0: 0, 1: 1, 2: 1}[e.Label], Probs: [2]float64{float64(p[0]), float64(p[1]) + float64(p[2])}}
		c := recs[i].Classes
		if c == nil || c.Label != e.Label || fmt.Sprint(c.Probs) != fmt.Sprint([]float64{float64(p[0]), float64(p[1]), float64(p[2])}) {
			t.Fatalf("record %d: classes %+v, want label %d and %v", i, c, e.Label, p)
		}
		truth, probs = append(truth, c.Label), append(probs, c.Probs)
		if recs[i].Classes = nil; recs[i] != want {
			t.Errorf("record %d: %+v, want %+v", i, recs[i], want)
		}
		recs[i].Classes = c
	}
	checkClassesOutputs(t, recs, truth, probs)
}

// checkClassesOutputs evaluates a three-class model's records as `xray evaluate` does and
// checks that metrics.json's all-class metrics and bacterial-vs-viral view are
// evaluator.EvaluateClasses and evaluator.BacterialVsViral of the model's own
// probabilities (which evaluator's TestClassesMatchSklearn checks against sklearn), and
// that report.md and confusion_classes.png hold them.
func checkClassesOutputs(t *testing.T, recs []evaluator.Record, truth []int, probs [][]float64) {
	t.Helper()
	out := t.TempDir()
	if _, err := evaluator.Run(evaluator.Config{Records: recs, Out: out}); err != nil {
		t.Fatal(err)
	}
	m, err := evaluator.ReadMetrics(filepath.Join(out, evaluator.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.MultiClass == nil || m.BacterialVsViral == nil {
		t.Fatalf("metrics.json has no multiclass or bacterial_vs_viral: %+v", m)
	}
	wantClasses, err := evaluator.EvaluateClasses(truth, probs, labels.Subtypes(), 0.95)
	if err != nil {
		t.Fatal(err)
	}
	wantView, err := evaluator.BacterialVsViral(labels.Subtypes(), truth, probs, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{{"multiclass", m.MultiClass, wantClasses}, {"bacterial_vs_viral", m.BacterialVsViral, wantView}} {
		got, _ := json.Marshal(c.got)
		want, err := json.Marshal(c.want)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("metrics.json %s:\n%s\nwant (%v)\n%s", c.what, got, err, want)
		}
	}
	if len(m.MultiClass.Confusion) != 3 {
		t.Errorf("confusion %v, want 3 x 3", m.MultiClass.Confusion)
	}
	md, err := os.ReadFile(filepath.Join(out, evaluator.ReportFile))
	if err != nil || !strings.Contains(string(md), "| true \\ predicted | normal | bacterial | viral | total |") ||
		!strings.Contains(string(md), "## Bacterial vs viral") {
		t.Errorf("report.md lacks the three-class sections (%v):\n%s", err, md)
	}
	png, err := os.ReadFile(filepath.Join(out, evaluator.ClassesConfusionFile))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("%s: %v, %d bytes", evaluator.ClassesConfusionFile, err, len(png))
	}
}
