package evaluator

import (
	"errors"
	"fmt"
	"math"

	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/labels"
)

// ClassAUC is one class's one-vs-rest ROC AUC with its Hanley & McNeil (1982) confidence
// interval; NaN (null in JSON) when the class is absent from the labels, or alone.
type ClassAUC struct {
	Class    string   `json:"class"`
	AUC      *float64 `json:"auc"`
	Lower    *float64 `json:"lower"`
	Upper    *float64 `json:"upper"`
	Positive int      `json:"positives"`
	Negative int      `json:"negatives"`
}

// ClassesMetrics is the evaluation of a model of N classes by argmax: the N x N confusion
// matrix (rows true, columns predicted), sklearn's classification_report over every class
// (zero_division=0, a class absent from the labels reports zeros), each class's
// one-vs-rest ROC AUC and their macro average over the defined ones (see OneVsRestAUC).
type ClassesMetrics struct {
	Classes   []string               `json:"classes"`
	N         int                    `json:"n"`
	Confusion [][]int                `json:"confusion_matrix"`
	Accuracy  metrics.Interval       `json:"accuracy"`
	PerClass  []metrics.ClassMetrics `json:"per_class"`
	Macro     metrics.ClassMetrics   `json:"macro_avg"`
	Weighted  metrics.ClassMetrics   `json:"weighted_avg"`
	AUC       []ClassAUC             `json:"roc_auc_ovr"`
	MacroAUC  *float64               `json:"roc_auc_ovr_macro"`
}

// ErrNoSubtypes is returned by BacterialVsViral when the vocabulary lacks bacterial or viral.
var ErrNoSubtypes = errors.New("the model's classes have no bacterial and viral")

// EvaluateClasses computes ClassesMetrics for labels in 0..classes.Len()-1 and rows of
// class probabilities (finite, in [0, 1]); level is the intervals' confidence (0: 0.95).
func EvaluateClasses(truth []int, probs [][]float64, classes labels.Set, level float64) (*ClassesMetrics, error) {
	if level == 0 {
		level = 0.95
	}
	k := classes.Len()
	if len(truth) == 0 || len(truth) != len(probs) {
		return nil, fmt.Errorf("evaluate: %d labels and %d probability rows: want the same, non-zero number", len(truth), len(probs))
	}
	m := &ClassesMetrics{Classes: classes.Names(), N: len(truth), Confusion: make([][]int, k)}
	for c := range m.Confusion {
		m.Confusion[c] = make([]int, k)
	}
	correct := 0
	for i, row := range probs {
		if len(row) != k || truth[i] < 0 || truth[i] >= k {
			return nil, fmt.Errorf("evaluate: image %d: label %d and %d probabilities, want a label 0..%d and %d", i+1, truth[i], len(row), k-1, k)
		}
		for _, p := range row {
			if !(p >= 0 && p <= 1) {
				return nil, fmt.Errorf("evaluate: image %d: probability %v is not in [0, 1]", i+1, p)
			}
		}
		pred := metrics.ArgmaxRow(row)
		m.Confusion[truth[i]][pred]++
		if pred == truth[i] {
			correct++
		}
	}
	m.Accuracy = metrics.WilsonOf(correct, len(truth), level)
	m.PerClass, m.Macro, m.Weighted = metrics.ClassReportN(m.Confusion, m.Classes)
	macro, per, err := metrics.OneVsRestAUC(truth, probs)
	if err != nil && !errors.Is(err, metrics.ErrOneClass) {
		return nil, err
	}
	m.MacroAUC = nullable(macro)
	for c := range k {
		pos := m.PerClass[c].Support
		lo, hi := metrics.HanleyMcNeil(per[c], pos, len(truth)-pos, level)
		m.AUC = append(m.AUC, ClassAUC{Class: m.Classes[c], AUC: nullable(per[c]), Lower: nullable(lo), Upper: nullable(hi), Positive: pos, Negative: len(truth) - pos})
	}
	return m, nil
}

// NormalVsPneumonia is the two-class view of records of a model with a normal class and
// kinds of pneumonia (the Kermany paper's Table 1 row): p_pneumonia is the sum of the
// other classes' probabilities, and every label but normal is pneumonia. Its Evaluate
// metrics compare with two-class models' (xray compare).
func NormalVsPneumonia(classes labels.Set, truth []int, probs [][]float64) ([]int, [][2]float64, error) {
	normal, ok := classes.Index("normal")
	if !ok {
		return nil, nil, fmt.Errorf("normal vs pneumonia: the classes %s have no normal", classes)
	}
	bin := make([]int, len(truth))
	out := make([][2]float64, len(truth))
	for i, row := range probs {
		for c, p := range row {
			if c == normal {
				out[i][0] += p
			} else {
				out[i][1] += p
			}
		}
		if truth[i] != normal {
			bin[i] = labels.Pneumonia
		}
	}
	return bin, out, nil
}

// SubtypeView is bacterial vs viral among the images whose true class is one of the two,
// as the Kermany paper reports it: bacterial is the positive class (sensitivity =
// bacterial recall, specificity = viral recall), decided by the larger of the two
// probabilities; the AUC scores p_bacterial / (p_bacterial + p_viral).
type SubtypeView struct {
	N           int              `json:"n"`
	Accuracy    metrics.Interval `json:"accuracy"`
	Sensitivity metrics.Interval `json:"sensitivity_bacterial"`
	Specificity metrics.Interval `json:"specificity_viral"`
	AUC         *float64         `json:"roc_auc"`
	AUCLower    *float64         `json:"roc_auc_lower"`
	AUCUpper    *float64         `json:"roc_auc_upper"`
}

// BacterialVsViral computes the SubtypeView; level as in EvaluateClasses.
func BacterialVsViral(classes labels.Set, truth []int, probs [][]float64, level float64) (*SubtypeView, error) {
	if level == 0 {
		level = 0.95
	}
	b, okb := classes.Index("bacterial")
	v, okv := classes.Index("viral")
	if !okb || !okv {
		return nil, fmt.Errorf("%w (%s)", ErrNoSubtypes, classes)
	}
	var bin []int // 1 = bacterial (positive)
	var scores []float64
	var tp, tn, pos, neg int
	for i, row := range probs {
		if truth[i] != b && truth[i] != v {
			continue
		}
		s := metrics.Divide(row[b], row[b]+row[v])
		isB := truth[i] == b
		calledB := row[b] > row[v] || (row[b] == row[v] && b < v) // a tie to the lower id, as np.argmax
		switch {
		case isB:
			pos++
			bin, scores = append(bin, 1), append(scores, s)
			if calledB {
				tp++
			}
		default:
			neg++
			bin, scores = append(bin, 0), append(scores, s)
			if !calledB {
				tn++
			}
		}
	}
	if pos+neg == 0 {
		return nil, errors.New("bacterial vs viral: no bacterial or viral images")
	}
	view := &SubtypeView{N: pos + neg, Accuracy: metrics.WilsonOf(tp+tn, pos+neg, level),
		Sensitivity: metrics.WilsonOf(tp, pos, level), Specificity: metrics.WilsonOf(tn, neg, level)}
	auc, err := metrics.ROCAUC(bin, scores)
	if err != nil && !errors.Is(err, metrics.ErrOneClass) {
		return nil, err
	}
	lo, hi := metrics.HanleyMcNeil(auc, pos, neg, level)
	view.AUC, view.AUCLower, view.AUCUpper = nullable(auc), nullable(lo), nullable(hi)
	return view, nil
}

// nullable is v, or nil (JSON null) when it is undefined (NaN).
func nullable(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}
