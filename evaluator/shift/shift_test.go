package shift

import (
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// TestShiftMatchesDirect: the shift report on a tiny model equals evaluating, with
// predict.Split and evaluator.Evaluate, the clean images and each perturbation's images written as
// lossless PNGs (perturbed by perturb.Apply, itself checked against numpy, scipy and
// Pillow): probabilities per image and every row's accuracy, sensitivity, specificity
// and ROC AUC. The files are written and the CSV has a row per variant.
func TestShiftMatchesDirect(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 5)
	sm := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(sm, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "test")
	perts, err := perturb.Parse("contrast-3,blur-2,noise-3,jpeg-3,resolution-3")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := predict.Input{SavedModel: sm, Data: data, Split: predict.AllImages}
	rep, err := Run(ctx, Input{Input: in, Perturbations: perts})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1+len(perts) || rep.Rows[0].Perturbation != Clean {
		t.Fatalf("rows %+v", rep.Rows)
	}
	check := func(name string, row Row, direct []evaluator.Record) {
		t.Helper()
		got := map[string]float64{}
		for _, r := range rep.Records[name] {
			got[r.Path] = r.Probs[1]
		}
		var g, w []float64
		for _, r := range direct {
			g, w = append(g, got[strings.TrimSuffix(r.Path, ".png")]), append(w, r.Probs[1])
		}
		approx.Within(t, name+" p_pneumonia, shift vs direct", g, w, approx.Abs, 1e-6)
		want, err := evaluator.Evaluate(direct, evaluator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		wm := want.Metrics
		approx.Within(t, name+" accuracy", []float64{row.Accuracy}, []float64{wm.Accuracy}, approx.Abs, 1e-12)
		approx.Within(t, name+" sensitivity, specificity, AUC", []float64{*row.Sensitivity, *row.Specificity, *row.ROCAUC},
			[]float64{wm.Sensitivity.Estimate, wm.Specificity.Estimate, *wm.ROCAUC}, approx.Abs, 1e-9)
	}
	clean, _, err := predict.Split(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	check(Clean, rep.Rows[0], clean)
	for k, p := range perts {
		tree := t.TempDir()
		for _, r := range clean {
			b, err := os.ReadFile(filepath.Join(data, filepath.FromSlash(r.Path)))
			if err != nil {
				t.Fatal(err)
			}
			img, err := preprocess.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			out, err := perturb.Apply(img, p, perturb.Seed(r.Path))
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(tree, filepath.FromSlash(r.Path)+".png")
			os.MkdirAll(filepath.Dir(dst), 0o755)
			f, err := os.Create(dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, out); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		direct, _, err := predict.Split(ctx, predict.Input{SavedModel: sm, Data: tree, Split: predict.AllImages})
		if err != nil {
			t.Fatal(err)
		}
		check(p.String(), rep.Rows[k+1], direct)
	}
	dir, rows, err := writeReport(t, rep)
	if err != nil || len(rows) != 2+len(perts) {
		t.Errorf("shift.csv: %d rows (%v), want a header and %d", len(rows), err, 1+len(perts))
	}
	for _, name := range []string{MarkdownFile, JSONFile, PlotFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("\n%s", rep.Markdown())
}

// writeReport writes rep to a temporary folder and reads back its shift.csv.
func writeReport(t *testing.T, rep *Report) (dir string, rows [][]string, err error) {
	t.Helper()
	dir = t.TempDir()
	if err := Write(dir, rep); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err = csv.NewReader(f).ReadAll()
	return dir, rows, err
}
