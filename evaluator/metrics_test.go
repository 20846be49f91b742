package evaluator

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
)

// sklearnCases are prediction sets whose metrics sklearn computes in
// scripts/ref/eval_metrics.py; they cover the edge cases of every metric.
func sklearnCases() map[string][]Record {
	rng := rand.New(rand.NewPCG(8, 2021))
	softmax := func(p float64) [2]float64 { return [2]float64{1 - p, p} }
	gen := func(n int, pPneumonia float64, score func(label int) float64) []Record {
		recs := make([]Record, n)
		for i := range recs {
			label := labels.Normal
			if rng.Float64() < pPneumonia {
				label = labels.Pneumonia
			}
			recs[i] = Record{Path: fmt.Sprintf("img/%04d.jpeg", i), Label: label, Probs: softmax(score(label))}
		}
		return recs
	}
	// informative scores: pneumonia shifted up, clipped to [0, 1]
	informative := func(label int) float64 {
		return math.Min(1, math.Max(0, 0.35+0.3*float64(label)+0.25*rng.NormFloat64()))
	}
	quantized := func(label int) float64 { return math.Round(4*informative(label)) / 4 } // many ties, some at 0.5
	cases := map[string][]Record{
		"random_500":               gen(500, 0.7, informative),
		"random_17":                gen(17, 0.5, func(int) float64 { return rng.Float64() }),
		"ties_quantized":           gen(300, 0.6, quantized),
		"never_predicts_pneumonia": gen(60, 0.5, func(l int) float64 { return 0.49 * rng.Float64() }),
		"never_predicts_normal":    gen(60, 0.5, func(l int) float64 { return 0.51 + 0.49*rng.Float64() }),
		"only_pneumonia":           gen(40, 1, informative),
		"only_normal":              gen(40, 0, informative),
		"perfect":                  gen(50, 0.5, func(l int) float64 { return 0.1 + 0.8*float64(l) }),
		"all_wrong":                gen(50, 0.5, func(l int) float64 { return 0.9 - 0.8*float64(l) }),
		"all_ties_half":            gen(30, 0.5, func(int) float64 { return 0.5 }),
		"single_record":            {{Path: "a.jpeg", Label: labels.Pneumonia, Probs: [2]float64{0.3, 0.7}}},
		// probabilities as a float32 softmax returns them, not summing to exactly 1
		"float32_probs": func() []Record {
			recs := gen(200, 0.7, informative)
			for i := range recs {
				recs[i].Probs = [2]float64{float64(float32(recs[i].Probs[0])), float64(float32(recs[i].Probs[1]))}
			}
			return recs
		}(),
	}
	return cases
}

type refRow struct {
	Precision, Recall, F1 float64
	Support               int
}

type refMetrics struct {
	Confusion   [2][2]int         `json:"confusion"`
	Predicted   []int             `json:"predicted"`
	Accuracy    float64           `json:"accuracy"`
	PerClass    [2]refRow         `json:"per_class"`
	Macro       refRow            `json:"macro"`
	Weighted    refRow            `json:"weighted"`
	ROCAUC      *float64          `json:"roc_auc"`
	AP          *float64          `json:"average_precision"`
	Sensitivity *metrics.Interval `json:"sensitivity"`
	Specificity *metrics.Interval `json:"specificity"`
	AccuracyCI  *metrics.Interval `json:"accuracy_ci"`
	Table1      []string          `json:"table1"`
	ROCFPR      []float64         `json:"roc_fpr"`
	ROCTPR      []float64         `json:"roc_tpr"`
	Brier       float64           `json:"brier"`
	ECE         float64           `json:"ece"`
	CalTrue     []float64         `json:"cal_true"`
	CalPred     []float64         `json:"cal_pred"`
}

const tol = 1e-12

func TestMetricsMatchSklearn(t *testing.T) {
	dir := t.TempDir()
	cases := sklearnCases()
	var files []string
	for name, recs := range cases {
		path := filepath.Join(dir, name+".csv")
		if err := WritePredictionsCSV(path, recs); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	var ref map[string]refMetrics
	if err := json.Unmarshal(pyref.Run(t, pyref.Script("eval_metrics.py"), files...), &ref); err != nil {
		t.Fatal(err)
	}
	for name := range cases {
		t.Run(name, func(t *testing.T) {
			want, ok := ref[name+".csv"]
			if !ok {
				t.Fatalf("reference has no %s", name)
			}
			// evaluate what was read back, as `xray evaluate --predictions` does
			recs, err := ReadPredictionsCSV(filepath.Join(dir, name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Evaluate(recs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := rep.Metrics
			for i, r := range recs {
				if r.Predicted() != want.Predicted[i] {
					t.Fatalf("record %d %v: predicted %d, np.argmax %d", i, r.Probs, r.Predicted(), want.Predicted[i])
				}
			}
			if m.Confusion != want.Confusion {
				t.Errorf("confusion %v, sklearn %v", m.Confusion, want.Confusion)
			}
			near(t, "accuracy", m.Accuracy, want.Accuracy)
			for k := 0; k < 2; k++ {
				row(t, labels.Default().Name(k), m.PerClass[k], want.PerClass[k])
			}
			row(t, "macro avg", m.MacroAvg, want.Macro)
			row(t, "weighted avg", m.WeightedAvg, want.Weighted)
			optionalNear(t, "roc_auc", m.ROCAUC, want.ROCAUC, m.Undefined)
			optionalNear(t, "average_precision", m.AveragePrecision, want.AP, m.Undefined)
			intervalNear(t, "sensitivity", m.Sensitivity, want.Sensitivity, m.Undefined)
			intervalNear(t, "specificity", m.Specificity, want.Specificity, m.Undefined)
			intervalNear(t, "accuracy_ci", &m.AccuracyCI, want.AccuracyCI, m.Undefined)
			if got := m.Table1.Cells(); fmt.Sprint(got) != fmt.Sprint(want.Table1) {
				t.Errorf("Table 1 cells %v, Python %%-format %v", got, want.Table1)
			}
			cal := m.Calibration
			near(t, "brier", cal.Brier, want.Brier)
			near(t, "ece", cal.ECE, want.ECE)
			if want.CalTrue != nil {
				if len(cal.Bins) != len(want.CalTrue) {
					t.Fatalf("%d non-empty calibration bins, calibration_curve %d", len(cal.Bins), len(want.CalTrue))
				}
				for i, b := range cal.Bins {
					near(t, fmt.Sprintf("bin[%d] fraction positive", i), b.FractionPositive, want.CalTrue[i])
					near(t, fmt.Sprintf("bin[%d] mean score", i), b.MeanScore, want.CalPred[i])
				}
			}
			if len(rep.ROC) != len(want.ROCFPR) {
				t.Fatalf("ROC curve has %d points, sklearn roc_curve %d", len(rep.ROC), len(want.ROCFPR))
			}
			for i, p := range rep.ROC {
				near(t, fmt.Sprintf("roc[%d].fpr", i), p.FPR, want.ROCFPR[i])
				near(t, fmt.Sprintf("roc[%d].tpr", i), p.TPR, want.ROCTPR[i])
			}
		})
	}
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.17g, sklearn %.17g", what, got, want)
	}
}

func row(t *testing.T, name string, got metrics.ClassMetrics, want refRow) {
	t.Helper()
	near(t, name+" precision", got.Precision, want.Precision)
	near(t, name+" recall", got.Recall, want.Recall)
	near(t, name+" f1", got.F1, want.F1)
	if got.Support != want.Support {
		t.Errorf("%s support %d, sklearn %d", name, got.Support, want.Support)
	}
}

func optionalNear(t *testing.T, name string, got, want *float64, undefined map[string]string) {
	t.Helper()
	switch {
	case got == nil && want == nil:
		if undefined[name] == "" {
			t.Errorf("%s undefined without a reason", name)
		}
	case got == nil || want == nil:
		t.Errorf("%s = %v, reference %v", name, deref(got), deref(want))
	default:
		near(t, name, *got, *want)
	}
}

func intervalNear(t *testing.T, name string, got, want *metrics.Interval, undefined map[string]string) {
	t.Helper()
	switch {
	case got == nil && want == nil:
		if undefined[name] == "" {
			t.Errorf("%s undefined without a reason", name)
		}
	case got == nil || want == nil:
		t.Errorf("%s = %v, reference %v", name, got, want)
	default:
		near(t, name+" estimate", got.Estimate, want.Estimate)
		near(t, name+" lower", got.Lower, want.Lower)
		near(t, name+" upper", got.Upper, want.Upper)
		if got.Successes != want.Successes || got.Trials != want.Trials {
			t.Errorf("%s %d/%d, reference %d/%d", name, got.Successes, got.Trials, want.Successes, want.Trials)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
