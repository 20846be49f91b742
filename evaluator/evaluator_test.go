package evaluator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xraylab/xray/labels"
)

// fromConfusion builds records with a given confusion matrix; probabilities vary so the
// ROC curve is not degenerate, and argmax reproduces the matrix.
func fromConfusion(tn, fp, fn, tp int) []Record {
	rng := rand.New(rand.NewPCG(9, 11))
	var recs []Record
	add := func(n, label, pred int) {
		for i := 0; i < n; i++ {
			p := 0.49 * rng.Float64() // p of the other class, below 0.5
			probs := [2]float64{1 - p, p}
			if pred == labels.Pneumonia {
				probs = [2]float64{p, 1 - p}
			}
			recs = append(recs, Record{Path: fmt.Sprintf("%s/%d-%d.jpeg", labels.Default().Name(label), pred, i), Label: label, Probs: probs})
		}
	}
	add(tn, labels.Normal, labels.Normal)
	add(fp, labels.Normal, labels.Pneumonia)
	add(fn, labels.Pneumonia, labels.Normal)
	add(tp, labels.Pneumonia, labels.Pneumonia)
	return recs
}

// The paper's Table 1 rows, typed from shared/docs/paper-facts.md, must come out of its
// own confusion matrices (Figures 9-11).
func TestTable1ReproducesPaper(t *testing.T) {
	for _, tc := range []struct {
		model          string
		tn, fp, fn, tp int
		want           []string // accuracy, normal P R F1, pneumonia P R F1
	}{
		{"xception", 304, 39, 26, 791, []string{"0.944", "0.92", "0.89", "0.90", "0.95", "0.97", "0.96"}},
		{"mobilenet", 330, 15, 29, 786, []string{"0.962", "0.92", "0.96", "0.94", "0.98", "0.96", "0.97"}},
		{"inceptionv3", 279, 29, 26, 826, []string{"0.953", "0.91", "0.91", "0.91", "0.97", "0.97", "0.97"}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			rep, err := Evaluate(fromConfusion(tc.tn, tc.fp, tc.fn, tc.tp), Options{Model: tc.model})
			if err != nil {
				t.Fatal(err)
			}
			if want := [2][2]int{{tc.tn, tc.fp}, {tc.fn, tc.tp}}; rep.Metrics.Confusion != want {
				t.Fatalf("confusion %v, want %v", rep.Metrics.Confusion, want)
			}
			if got := rep.Metrics.Table1.Cells(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Table 1 row %v, paper %v", got, tc.want)
			}
			// the hard-coded paper constants used by xray compare say the same
			p, ok := PaperRowFor(tc.model)
			if !ok {
				t.Fatalf("no paper row for %s", tc.model)
			}
			if got := p.Table1().Cells(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PaperTable1 row %v, paper %v", got, tc.want)
			}
			if p.TN != tc.tn || p.FP != tc.fp || p.FN != tc.fn || p.TP != tc.tp {
				t.Errorf("PaperTable1 confusion %d %d %d %d, paper %d %d %d %d", p.TN, p.FP, p.FN, p.TP, tc.tn, tc.fp, tc.fn, tc.tp)
			}
			if !strings.Contains(rep.Markdown(), "| "+tc.model+" | "+strings.Join(tc.want, " | ")+" |") {
				t.Errorf("report.md lacks the Table 1 row:\n%s", rep.Markdown())
			}
		})
	}
}

func TestPaperRowForSpellings(t *testing.T) {
	for _, s := range []string{"InceptionV3", "inception_v3", "Inception-V3"} {
		if p, ok := PaperRowFor(s); !ok || p.Model != "inceptionv3" {
			t.Errorf("PaperRowFor(%q) = %v, %v", s, p.Model, ok)
		}
	}
	if _, ok := PaperRowFor("resnet50"); ok {
		t.Error("resnet50 matched a paper row")
	}
}

func TestSplitSHA256(t *testing.T) {
	recs := []Record{{Path: "b.jpeg", Label: 1}, {Path: "a.jpeg", Label: 0, Probs: [2]float64{1, 0}}}
	sum := sha256.Sum256([]byte("a.jpeg\t0\nb.jpeg\t1\n")) // the documented definition
	if got, want := SplitSHA256(recs), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SplitSHA256 = %s, want %s", got, want)
	}
	recs[0].Label = 0
	if SplitSHA256(recs) == hex.EncodeToString(sum[:]) {
		t.Error("a changed label kept the fingerprint")
	}
}

func TestEvaluateRejectsBadRecords(t *testing.T) {
	good := Record{Path: "ok.jpeg", Label: 1, Probs: [2]float64{0.2, 0.8}}
	nan := 0.0
	nan = nan / nan
	for name, recs := range map[string][]Record{
		"empty":     nil,
		"label 2":   {good, {Path: "x.jpeg", Label: 2, Probs: [2]float64{0.5, 0.5}}},
		"NaN":       {good, {Path: "x.jpeg", Label: 0, Probs: [2]float64{nan, 0.5}}},
		"logit":     {good, {Path: "x.jpeg", Label: 0, Probs: [2]float64{-1.5, 2.5}}},
		"above one": {good, {Path: "x.jpeg", Label: 1, Probs: [2]float64{0, 1.5}}},
	} {
		_, err := Evaluate(recs, Options{})
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if name != "empty" && !strings.Contains(err.Error(), "x.jpeg") {
			t.Errorf("%s: error does not name the record: %v", name, err)
		}
	}
}

func TestReadPredictionsCSVErrors(t *testing.T) {
	const (
		header       = "path,label,predicted,p_normal,p_pneumonia\n"
		classHeader  = "path,label,p_normal,p_pneumonia,class,p_class_normal,p_class_bacterial,p_class_viral\n"
		classHeader2 = "path,label,p_normal,p_pneumonia,class,p_class_normal,p_class_pneumonia\n"
	)
	for _, tc := range []struct {
		name, content, want string
	}{
		{"not a number", header + "a.jpeg,1,1,0.2,0.8\nb.jpeg,0,0,abc,0.1\n", "line 3: p_normal \"abc\""},
		{"bad label", header + "a.jpeg,2,1,0.2,0.8\n", "line 2: label"},
		{"short row", header + "a.jpeg,1,1,0.2,0.8\nb.jpeg,1,0.2\n", "line 3: 3 fields"},
		{"missing column", "path,label,p_normal\na.jpeg,1,0.2\n", "line 1: no \"p_pneumonia\" column"},
		{"swapped probabilities", header + "a.jpeg,1,1,0.8,0.2\n", "line 2: predicted 1 is not the argmax 0"},
		{"above one", header + "a.jpeg,1,1,0.2,1.8\n", "line 2: p_pneumonia \"1.8\""},
		{"bare quote", header + "a.jpeg,1,1,0.2,0.8\n\"b,1,1,0.2,0.8\n", "line 3"},
		{"header only", header, "no predictions"},
		{"empty", "", "empty file"},
		{"class probabilities without class", "path,label,p_normal,p_pneumonia,p_class_normal,p_class_bacterial,p_class_viral\na.jpeg,1,0.2,0.8,0.2,0.5,0.3\n", "line 1: classes of the model"},
		{"two classes of the model", classHeader2 + "a.jpeg,1,0.2,0.8,pneumonia,0.2,0.8\n", "line 1: classes of the model"},
		{"unknown class", classHeader + "a.jpeg,1,0.2,0.8,fungal,0.2,0.5,0.3\n", "line 2: class"},
		{"class disagrees with label", classHeader + "a.jpeg,0,0.2,0.8,viral,0.2,0.5,0.3\n", "line 2: label 0 disagrees"},
		{"class probability above one", classHeader + "a.jpeg,1,0.2,0.8,viral,0.2,0.5,1.3\n", "line 2: p_class_viral \"1.3\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "preds.csv")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadPredictionsCSV(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and %q", msg, path, tc.want)
			}
		})
	}
}

func TestReadPredictionsCSVFlexibleHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.csv")
	content := "p_pneumonia,extra,path,label,p_normal\n0.9,x,a.jpeg,pneumonia,0.1\n0.25,y,b.jpeg,NORMAL,0.75\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPredictionsCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{Path: "a.jpeg", Label: 1, Probs: [2]float64{0.1, 0.9}}, {Path: "b.jpeg", Label: 0, Probs: [2]float64{0.75, 0.25}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, want %+v", got, want)
	}
}

func TestWriteOutputs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "eval-test")
	rep, err := Evaluate(fromConfusion(330, 15, 29, 786), Options{Model: "mobilenet", Split: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteOutputs(dir, rep); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{CalibrationFile, ConfusionFile, MetricsFile, PredictionsFile, ReportFile, ROCFile}
	if !reflect.DeepEqual(names, want) { // also: no temporary files left behind
		t.Errorf("files %v, want %v", names, want)
	}
	for _, f := range []string{ConfusionFile, ROCFile, CalibrationFile} {
		checkPNG(t, filepath.Join(dir, f))
	}
	m, err := ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, rep.Metrics) {
		t.Errorf("metrics.json read back differs:\n%+v\n%+v", m, rep.Metrics)
	}
	recs, err := ReadPredictionsCSV(filepath.Join(dir, PredictionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs, rep.Records) {
		t.Error("predictions.csv does not read back to the records")
	}
	md, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if string(md) != rep.Markdown() {
		t.Error("report.md differs from Markdown()")
	}
}

// metrics.json stays valid JSON without NaN when metrics are undefined.
func TestUndefinedMetricsAreNull(t *testing.T) {
	rep, err := Evaluate([]Record{{Path: "a", Label: 0, Probs: [2]float64{0.7, 0.3}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := rep.Metrics.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"roc_auc": null`, `"average_precision": null`, `"sensitivity": null`} {
		if !bytes.Contains(js, []byte(s)) {
			t.Errorf("metrics.json lacks %s", s)
		}
	}
	for _, k := range []string{"roc_auc", "average_precision", "sensitivity"} {
		if rep.Metrics.Undefined[k] == "" {
			t.Errorf("no reason for undefined %s", k)
		}
	}
	dir := t.TempDir()
	if err := WriteOutputs(dir, rep); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, filepath.Join(dir, ROCFile))
	checkPNG(t, filepath.Join(dir, CalibrationFile))
}

func TestRunKeepsInputCSVAndReadsRunJSON(t *testing.T) {
	run := t.TempDir()
	eval := filepath.Join(run, "eval-test")
	if err := os.MkdirAll(eval, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "run.json"), []byte(`{"arch": "xception", "epochs": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(eval, PredictionsFile)
	content := "path,label,p_normal,p_pneumonia,note\na.jpeg,1,0.1,0.9,kept\nb.jpeg,0,0.6,0.4,kept\n"
	if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(Config{Predictions: in})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Metrics.Model != "xception" {
		t.Errorf("model %q, want run.json's xception", rep.Metrics.Model)
	}
	if b, _ := os.ReadFile(in); string(b) != content {
		t.Errorf("input predictions.csv was rewritten:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(eval, MetricsFile)); err != nil {
		t.Error(err)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if cfg.Width < 400 || cfg.Height < 400 || cfg.Width > 4000 || cfg.Height > 4000 {
		t.Errorf("%s: %dx%d pixels", path, cfg.Width, cfg.Height)
	}
}
