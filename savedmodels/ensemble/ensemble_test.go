package ensemble

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

const ensembleTol = 1e-6 // the ensemble vs the weighted mean of its members run apart

// loadT loads dir or fails the test.
func loadT(t testing.TB, dir string) *savedmodels.Model {
	t.Helper()
	m, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// exportTiny exports savedmodelstest.TinyModel of input side size into a fresh directory.
func exportTiny(t testing.TB, size int, seed int64, meta savedmodels.Metadata) string {
	t.Helper()
	m, sess := savedmodelstest.TinyModel(t, size, seed)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, meta); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ensembleT writes an ensemble of members into a fresh directory.
func ensembleT(t testing.TB, members []string, opts Options) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ensemble")
	if err := Write(context.Background(), dir, members, opts); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEnsembleIsWeightedMean: members of the same input size and scaling, run apart with
// savedmodels.Load, against the ensemble loaded the same way: probabilities and Grad-CAM heatmaps
// (of the same class) are the weighted means, and the metadata lists the members.
func TestEnsembleIsWeightedMean(t *testing.T) {
	a := exportTiny(t, 64, 11, savedmodels.Metadata{})
	b := exportTiny(t, 64, 12, savedmodels.Metadata{})
	dir := ensembleT(t, []string{a, b}, Options{Weights: []float64{1, 3}})
	w := []float64{0.25, 0.75}
	paths := savedmodelstest.Xrays(t, 6)
	ctx := context.Background()
	ens := loadT(t, dir)
	got, err := ens.PredictFile(ctx, paths...)
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{labels.Default().Names()[0], labels.Default().Names()[1]} {
		gotX, err := ens.ExplainFile(ctx, savedmodels.ExplainOptions{Class: class}, paths...)
		if err != nil {
			t.Fatal(err)
		}
		wantP := make([][]float64, len(paths))
		wantH := make([][]float64, len(paths))
		for k, d := range []string{a, b} {
			m := loadT(t, d)
			xs, err := m.ExplainFile(ctx, savedmodels.ExplainOptions{Class: class}, paths...)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range xs {
				wantP[i] = addScaled(wantP[i], x.Probabilities, w[k])
				wantH[i] = addScaled(wantH[i], x.Heatmap, w[k])
			}
		}
		for i := range paths {
			approx.Within(t, "probabilities "+paths[i], got[i].Probabilities, wantP[i], approx.Abs, ensembleTol)
			approx.Within(t, "explain probabilities "+paths[i], gotX[i].Probabilities, wantP[i], approx.Abs, ensembleTol)
			approx.Within(t, "heatmap "+class+" "+paths[i], gotX[i].Heatmap, wantH[i], approx.Abs, ensembleTol)
		}
	}
	meta := ens.Metadata()
	if meta.Arch != Arch || len(meta.Members) != 2 || meta.Members[1].Weight != 0.75 || meta.InputSize != 64 {
		t.Fatalf("metadata %+v", meta)
	}
	for i, d := range []string{a, b} {
		if want, err := savedmodels.Digest(d); err != nil || meta.Members[i].Digest != want || meta.Members[i].Dir != d {
			t.Errorf("member %d: %+v, want digest %s of %s (%v)", i, meta.Members[i], want, d, err)
		}
	}
}

func addScaled(acc []float64, x []float32, w float64) []float64 {
	if acc == nil {
		acc = make([]float64, len(x))
	}
	for i, v := range x {
		acc[i] += w * float64(v)
	}
	return acc
}

// TestEnsembleBadInput: each bad setting is a one-line error naming it, and nothing is
// written (no output directory, no temporary one left beside it).
func TestEnsembleBadInput(t *testing.T) {
	a := exportTiny(t, 32, 21, savedmodels.Metadata{})
	m3, s3 := savedmodelstest.TinyModelClasses(t, 32, 22, 3)
	three := filepath.Join(t.TempDir(), "three")
	if err := export.SavedModel(three, s3, m3, savedmodels.Metadata{Classes: []string{"normal", "bacterial", "viral"}}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nothing-here")
	failing := func(ctx context.Context, dir string) (*decision.Threshold, error) {
		return nil, errors.New("no validation images")
	}
	for _, c := range []struct {
		name    string
		members []string
		opts    Options
		field   string
		is      error
		words   string
	}{
		{"no members", nil, Options{}, "Members", nil, "at least one"},
		{"classes", []string{a, three}, Options{}, "Members", nil, "same classes"},
		{"weight count", []string{a, a}, Options{Weights: []float64{1}}, "Weights", nil, "1 weights for 2 members"},
		{"negative", []string{a, a}, Options{Weights: []float64{1, -1}}, "Weights", nil, ">= 0"},
		{"all zero", []string{a, a}, Options{Weights: []float64{0, 0}}, "Weights", nil, "all zero"},
		{"tta", []string{a}, Options{TTA: len(TTAViews) + 1}, "TTA", nil, "number of views"},
		{"missing", []string{a, missing}, Options{}, "", savedmodels.ErrNotFound, "member 2"},
		{"threshold", []string{a}, Options{Threshold: failing}, "", nil, "no validation images"},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "ens")
			err := Write(context.Background(), out, c.members, c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *tfgraph.ConfigError
			if c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field) {
				t.Errorf("error %v is not a ConfigError of %s", err, c.field)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not match %v", err, c.is)
			}
			if msg := err.Error(); !strings.Contains(msg, c.words) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line saying %q", msg, c.words)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("left %v in the output's directory", ents)
			}
		})
	}
}

// TestEnsembleThreshold: the chosen threshold is stored in both copies of the metadata,
// and an existing output is replaced only by a complete ensemble.
func TestEnsembleThreshold(t *testing.T) {
	a := exportTiny(t, 32, 31, savedmodels.Metadata{})
	want := &decision.Threshold{Rule: decision.Youden, Value: 0.42}
	var sawDir string
	dir := ensembleT(t, []string{a}, Options{Threshold: func(ctx context.Context, d string) (*decision.Threshold, error) {
		sawDir = d
		m, err := savedmodels.Load(d, savedmodels.Options{})
		if err != nil {
			return nil, err
		}
		return want, m.Close()
	}})
	if sawDir == dir || sawDir == "" {
		t.Errorf("the threshold was chosen on %q, want the temporary directory", sawDir)
	}
	_, meta, err := savedmodels.ReadMetaGraph(dir)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Threshold == nil || *meta.Threshold != *want {
		t.Errorf("xray.json threshold %v, want %v", meta.Threshold, want)
	}
	os.Remove(filepath.Join(dir, savedmodels.MetadataFile))
	if _, m2, err := savedmodels.ReadMetaGraph(dir); err != nil || m2.Threshold == nil || *m2.Threshold != *want {
		t.Errorf("saved_model.pb's metadata threshold %v (%v), want %v", m2.Threshold, err, want)
	}
}
