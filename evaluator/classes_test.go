package evaluator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
)

type classesCase struct {
	truth []int
	probs [][]float64
}

// classesCases are three-class prediction sets (normal, bacterial, viral) for sklearn in
// scripts/ref/eval_classes.py: informative scores, many ties, and viral absent.
func classesCases() map[string]classesCase {
	rng := rand.New(rand.NewPCG(19, 3))
	gen := func(n int, freq []float64, quantize bool) classesCase {
		var c classesCase
		for range n {
			l, u := 0, rng.Float64()
			for l < len(freq)-1 && u > freq[l] {
				u -= freq[l]
				l++
			}
			logits := make([]float64, 3)
			for j := range logits {
				logits[j] = rng.NormFloat64()
			}
			logits[l] += 1.2
			p, sum := make([]float64, 3), 0.0
			for j, z := range logits {
				p[j] = math.Exp(z)
				sum += p[j]
			}
			for j := range p {
				p[j] /= sum
				if quantize {
					p[j] = math.Round(4*p[j]) / 4
				}
			}
			c.truth, c.probs = append(c.truth, l), append(c.probs, p)
		}
		return c
	}
	return map[string]classesCase{
		"informative_300": gen(300, []float64{0.3, 0.45, 0.25}, false),
		"quantized_150":   gen(150, []float64{0.3, 0.4, 0.3}, true),
		"viral_absent_80": gen(80, []float64{0.5, 0.5, 0}, false),
	}
}

func writeClassesCSV(t *testing.T, path string, c classesCase) {
	var b strings.Builder
	b.WriteString("label,p_0,p_1,p_2\n")
	for i, row := range c.probs {
		b.WriteString(strconv.Itoa(c.truth[i]))
		for _, p := range row {
			b.WriteString("," + strconv.FormatFloat(p, 'g', -1, 64))
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type refClasses struct {
	Confusion   [][]int  `json:"confusion"`
	Accuracy    float64  `json:"accuracy"`
	PerClass    []refRow `json:"per_class"`
	Macro       refRow   `json:"macro"`
	Weighted    refRow   `json:"weighted"`
	OvRMacro    *float64 `json:"ovr_macro"`
	OvRRefused  string   `json:"ovr_refused"`
	PerClassAUC []struct {
		AUC, Lower, Upper *float64
	} `json:"per_class_auc"`
	Subtypes struct {
		N                                  int
		Accuracy, Sensitivity, Specificity float64
		AUC, Lower, Upper                  *float64
	} `json:"subtypes"`
}

func TestClassesMatchSklearn(t *testing.T) {
	dir := t.TempDir()
	cases := classesCases()
	var files []string
	for name, c := range cases {
		files = append(files, filepath.Join(dir, name+".csv"))
		writeClassesCSV(t, files[len(files)-1], c)
	}
	var ref map[string]refClasses
	if err := json.Unmarshal(pyref.Run(t, pyref.Script("eval_classes.py"), files...), &ref); err != nil {
		t.Fatal(err)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, ok := ref[name+".csv"]
			if !ok {
				t.Fatalf("reference has no %s", name)
			}
			got, err := EvaluateClasses(c.truth, c.probs, labels.Subtypes(), 0)
			if err != nil {
				t.Fatal(err)
			}
			view, err := BacterialVsViral(labels.Subtypes(), c.truth, c.probs, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkClasses(t, got, view, want)
			// The same metrics from the records written to predictions.csv and read back.
			csvPath := filepath.Join(dir, name+"-predictions.csv")
			if err := WritePredictionsCSV(csvPath, classesRecords(c)); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadPredictionsCSV(csvPath)
			if err != nil {
				t.Fatal(err)
			}
			if got, view, err = classesOf(recs, 0); err != nil || got == nil || view == nil {
				t.Fatalf("predictions.csv read back without its classes: %v", err)
			}
			checkClasses(t, got, view, want)
		})
	}
}

// classesRecords are a case's predictions as xray evaluate --savedmodel records them.
func classesRecords(c classesCase) []Record {
	recs := make([]Record, len(c.truth))
	for i, p := range c.probs {
		recs[i] = Record{Path: fmt.Sprintf("img%d.png", i), Label: min(c.truth[i], labels.Pneumonia), Probs: [2]float64{p[0], p[1] + p[2]},
			Classes: &ClassProbs{Set: labels.Subtypes(), Label: c.truth[i], Probs: p}}
	}
	return recs
}

// checkClasses compares the N-class metrics and the bacterial-vs-viral view with sklearn's.
func checkClasses(t *testing.T, got *ClassesMetrics, view *SubtypeView, want refClasses) {
	t.Helper()
	if fmt.Sprint(got.Confusion) != fmt.Sprint(want.Confusion) {
		t.Errorf("confusion %v, sklearn %v", got.Confusion, want.Confusion)
	}
	near(t, "accuracy", got.Accuracy.Estimate, want.Accuracy)
	if len(got.PerClass) != 3 || len(want.PerClass) != 3 || len(got.AUC) != 3 || len(want.PerClassAUC) != 3 {
		t.Fatalf("per-class rows: %d and %d AUCs, sklearn %d and %d", len(got.PerClass), len(got.AUC), len(want.PerClass), len(want.PerClassAUC))
	}
	for k := range 3 {
		row(t, fmt.Sprint("class ", k), got.PerClass[k], want.PerClass[k])
		nearPtr(t, fmt.Sprint("auc ", k), got.AUC[k].AUC, want.PerClassAUC[k].AUC)
		nearPtr(t, fmt.Sprint("auc lower ", k), got.AUC[k].Lower, want.PerClassAUC[k].Lower)
		nearPtr(t, fmt.Sprint("auc upper ", k), got.AUC[k].Upper, want.PerClassAUC[k].Upper)
	}
	row(t, "macro", got.Macro, want.Macro)
	row(t, "weighted", got.Weighted, want.Weighted)
	if want.OvRMacro != nil {
		nearPtr(t, "ovr macro", got.MacroAUC, want.OvRMacro)
	} else if want.OvRRefused == "" || got.MacroAUC == nil {
		// sklearn refuses multi_class="ovr" with an absent class; we average the defined areas
		t.Errorf("absent class: sklearn refused %q, ours %v", want.OvRRefused, got.MacroAUC)
	}
	s := want.Subtypes
	if view.N != s.N || s.N == 0 {
		t.Errorf("bacterial vs viral over %d images, sklearn %d", view.N, s.N)
	}
	near(t, "subtype accuracy", view.Accuracy.Estimate, s.Accuracy)
	near(t, "sensitivity bacterial", view.Sensitivity.Estimate, s.Sensitivity)
	near(t, "specificity viral", view.Specificity.Estimate, s.Specificity)
	nearPtr(t, "subtype auc", view.AUC, s.AUC)
	nearPtr(t, "subtype auc lower", view.AUCLower, s.Lower)
	nearPtr(t, "subtype auc upper", view.AUCUpper, s.Upper)
}

// nearPtr compares nullable values: both null (undefined), or both near.
func nearPtr(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, sklearn %v", what, got, want)
	default:
		near(t, what, *got, *want)
		if math.IsNaN(*want) {
			t.Errorf("%s: sklearn NaN", what)
		}
	}
}

func TestEvaluateClassesRejectsBadInput(t *testing.T) {
	set := labels.Subtypes()
	for name, c := range map[string]classesCase{
		"empty":       {},
		"short row":   {truth: []int{0}, probs: [][]float64{{0.5, 0.5}}},
		"label range": {truth: []int{3}, probs: [][]float64{{0.2, 0.3, 0.5}}},
		"NaN":         {truth: []int{0}, probs: [][]float64{{math.NaN(), 0.5, 0.5}}},
	} {
		if _, err := EvaluateClasses(c.truth, c.probs, set, 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := BacterialVsViral(labels.Default(), []int{0}, [][]float64{{0.4, 0.6}}, 0); err == nil || !errors.Is(err, ErrNoSubtypes) {
		t.Errorf("two classes: %v, want ErrNoSubtypes", err)
	}
}
