package evaluator

import (
	"fmt"
	"math"
	"sort"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/labels"
)

// ClassMetrics is one row of sklearn's classification_report.
type ClassMetrics struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Interval is a proportion with its confidence interval.
type Interval struct {
	Estimate  float64 `json:"estimate"`
	Lower     float64 `json:"lower"`
	Upper     float64 `json:"upper"`
	Successes int     `json:"successes"`
	Trials    int     `json:"trials"`
}

// ROCPoint is one vertex of the ROC curve (sklearn roc_curve, drop_intermediate=True).
type ROCPoint struct {
	FPR, TPR, Threshold float64
}

// confusion counts labels against argmax predictions: c[true][predicted].
func confusion(truth, predicted []int) [2][2]int {
	var c [2][2]int
	for i := range truth {
		c[truth[i]][predicted[i]]++
	}
	return c
}

// divide is sklearn's _prf_divide with zero_division=0: 0/0 is reported as 0.
func divide(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// classReport computes per-class precision, recall and F1 exactly as
// sklearn.metrics.precision_recall_fscore_support(labels=[0, 1], zero_division=0):
// F1 is 2·tp / (true + predicted), sklearn's own form, so ratios agree to the last bits.
func classReport(c [2][2]int) (per [2]ClassMetrics, macro, weighted ClassMetrics) {
	total := 0
	for k := 0; k < 2; k++ {
		tp := float64(c[k][k])
		trueSum := float64(c[k][0] + c[k][1])
		predSum := float64(c[0][k] + c[1][k])
		per[k] = ClassMetrics{
			Class:     labels.Default().Name(k),
			Precision: divide(tp, predSum),
			Recall:    divide(tp, trueSum),
			F1:        divide(2*tp, trueSum+predSum),
			Support:   c[k][0] + c[k][1],
		}
		total += per[k].Support
	}
	// the same operation order as np.mean and np.average(weights=support)
	mean := func(a, b float64) float64 { return (a + b) / 2 }
	s0, s1, st := float64(per[0].Support), float64(per[1].Support), float64(total)
	wmean := func(a, b float64) float64 { return (a*s0 + b*s1) / st }
	macro = ClassMetrics{Class: "macro avg", Support: total,
		Precision: mean(per[0].Precision, per[1].Precision),
		Recall:    mean(per[0].Recall, per[1].Recall),
		F1:        mean(per[0].F1, per[1].F1)}
	weighted = ClassMetrics{Class: "weighted avg", Support: total,
		Precision: wmean(per[0].Precision, per[1].Precision),
		Recall:    wmean(per[0].Recall, per[1].Recall),
		F1:        wmean(per[0].F1, per[1].F1)}
	return per, macro, weighted
}

// wilson is the Wilson score interval for successes out of trials at the given two-sided
// confidence level, in statsmodels' proportion_confint(method="wilson") form. The bounds
// are clamped to [0, 1] against rounding at p = 0 or 1.
func wilson(successes, trials int, level float64) Interval {
	n := float64(trials)
	p := float64(successes) / n
	z := math.Sqrt2 * math.Erfinv(level) // standard normal quantile at 1 - (1-level)/2
	z2 := z * z
	denom := 1 + z2/n
	center := (p + z2/(2*n)) / denom
	half := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n)) / denom
	return Interval{
		Estimate:  p,
		Lower:     math.Max(0, center-half),
		Upper:     math.Min(1, center+half),
		Successes: successes,
		Trials:    trials,
	}
}

// thresholdCounts is sklearn's _binary_clf_curve: for each distinct score, in decreasing
// order, the cumulative false and true positives when predicting positive at score >= it.
func thresholdCounts(truth []int, scores []float64) (fps, tps, thresholds []float64) {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	var tp, fp float64
	for i, idx := range order {
		if truth[idx] == labels.Pneumonia {
			tp++
		} else {
			fp++
		}
		// close a threshold group at the last sample with this score
		if i == len(order)-1 || scores[order[i+1]] != scores[idx] {
			fps = append(fps, fp)
			tps = append(tps, tp)
			thresholds = append(thresholds, scores[idx])
		}
	}
	return fps, tps, thresholds
}

// rocCurve is sklearn.metrics.roc_curve(drop_intermediate=True). Both classes must be present.
func rocCurve(truth []int, scores []float64) []ROCPoint {
	fps, tps, thr := thresholdCounts(truth, scores)
	if len(fps) > 2 {
		// drop collinear vertices, as sklearn does; the area is unchanged
		keep := []int{0}
		for i := 1; i < len(fps)-1; i++ {
			if fps[i-1]-2*fps[i]+fps[i+1] != 0 || tps[i-1]-2*tps[i]+tps[i+1] != 0 {
				keep = append(keep, i)
			}
		}
		keep = append(keep, len(fps)-1)
		var f, t, th []float64
		for _, i := range keep {
			f, t, th = append(f, fps[i]), append(t, tps[i]), append(th, thr[i])
		}
		fps, tps, thr = f, t, th
	}
	negatives, positives := fps[len(fps)-1], tps[len(tps)-1]
	curve := []ROCPoint{{FPR: 0, TPR: 0, Threshold: math.Inf(1)}}
	for i := range fps {
		curve = append(curve, ROCPoint{FPR: fps[i] / negatives, TPR: tps[i] / positives, Threshold: thr[i]})
	}
	return curve
}

// trapezoidArea is sklearn.metrics.auc on an increasing-FPR curve.
func trapezoidArea(curve []ROCPoint) float64 {
	area := 0.0
	for i := 1; i < len(curve); i++ {
		area += (curve[i].FPR - curve[i-1].FPR) * (curve[i].TPR + curve[i-1].TPR) / 2
	}
	return area
}

// averagePrecision is sklearn.metrics.average_precision_score: the step-wise sum
// Σ (R_k − R_{k−1})·P_k over thresholds, not an interpolated area. At least one positive
// is required (sklearn warns and returns 0 without one; the caller reports it undefined).
func averagePrecision(truth []int, scores []float64) float64 {
	fps, tps, _ := thresholdCounts(truth, scores)
	positives := tps[len(tps)-1]
	ap, prevRecall := 0.0, 0.0
	for i := range tps {
		recall := tps[i] / positives
		precision := tps[i] / (tps[i] + fps[i])
		ap += (recall - prevRecall) * precision
		prevRecall = recall
	}
	return ap
}

// Metrics is everything computed from labels, argmax predictions and p(pneumonia). It is
// what metrics.json holds. Undefined metrics are null, with the reason in Undefined.
type Metrics struct {
	Schema string `json:"schema"`
	// Model is the architecture evaluated (e.g. "mobilenet"), when known.
	Model string `json:"model,omitempty"`
	// Split names the evaluated split (e.g. "test"); Source says where the predictions came from.
	Split  string `json:"split,omitempty"`
	Source string `json:"source,omitempty"`
	// SplitSHA256 fingerprints the evaluated images: sha256 over the "path\tlabel\n" lines
	// sorted by path. Two runs compare fairly only when theirs are equal.
	SplitSHA256 string    `json:"split_sha256"`
	N           int       `json:"n"`
	Classes     [2]string `json:"classes"`
	// Confusion is counts[true][predicted], the paper's reading (rows true, columns predicted).
	Confusion [2][2]int `json:"confusion_matrix"`
	// Prediction states the decision rule: argmax, ties to class 0 (normal), like np.argmax.
	Prediction string  `json:"prediction"`
	Accuracy   float64 `json:"accuracy"`
	// PerClass, MacroAvg and WeightedAvg follow sklearn's classification_report with
	// labels=[0, 1] and zero_division=0 (a 0/0 precision, recall or F1 is reported as 0).
	PerClass     [2]ClassMetrics `json:"per_class"`
	MacroAvg     ClassMetrics    `json:"macro_avg"`
	WeightedAvg  ClassMetrics    `json:"weighted_avg"`
	ZeroDivision float64         `json:"zero_division"`
	// ROCAUC is sklearn's roc_auc_score with p(pneumonia) as the score.
	ROCAUC *float64 `json:"roc_auc"`
	// AveragePrecision is sklearn's average_precision_score (step-wise) on p(pneumonia).
	AveragePrecision *float64 `json:"average_precision"`
	// Sensitivity is pneumonia recall, Specificity normal recall, each with a Wilson interval.
	Sensitivity *Interval `json:"sensitivity"`
	Specificity *Interval `json:"specificity"`
	AccuracyCI  Interval  `json:"accuracy_ci"`
	CIMethod    string    `json:"ci_method"`
	CILevel     float64   `json:"ci_level"`
	// Decisions compares the decision rules on these images: argmax first, then the
	// model's operating threshold when it has one.
	Decisions []DecisionMetrics `json:"decisions"`
	// Calibration of p(pneumonia): Brier score, expected calibration error, reliability bins.
	Calibration Calibration `json:"calibration"`
	// Undefined maps a null metric's JSON name to why it is undefined for this data.
	Undefined map[string]string `json:"undefined,omitempty"`
	Table1    Table1Row         `json:"table1"`
	// MultiClass evaluates a model of more classes over its own classes, and
	// BacterialVsViral its pneumonia images when those classes are bacterial and viral;
	// the fields above are then its normal-vs-pneumonia view. Nil for two-class models.
	MultiClass       *ClassesMetrics `json:"multiclass,omitempty"`
	BacterialVsViral *SubtypeView    `json:"bacterial_vs_viral,omitempty"`
}

// DecisionMetrics is how one decision rule does: its confusion matrix (rows true),
// accuracy, sensitivity and specificity (Wilson intervals; nil without cases of a class).
type DecisionMetrics struct {
	Rule        string    `json:"rule"`                // "argmax", or the threshold's rule
	Threshold   *float64  `json:"threshold,omitempty"` // pneumonia when p_pneumonia >= it
	Confusion   [2][2]int `json:"confusion_matrix"`
	Accuracy    float64   `json:"accuracy"`
	Sensitivity *Interval `json:"sensitivity"`
	Specificity *Interval `json:"specificity"`
}

// decisionMetrics summarises predictions made by argmax (t nil) or by threshold t.
func decisionMetrics(labels, predicted []int, t *decision.Threshold, level float64) DecisionMetrics {
	c := confusion(labels, predicted)
	d := DecisionMetrics{Rule: string(decision.Argmax), Confusion: c,
		Accuracy: float64(c[0][0]+c[1][1]) / float64(len(labels))}
	if t != nil {
		v := t.Value
		d.Rule, d.Threshold = string(t.Rule), &v
	}
	if n := c[1][0] + c[1][1]; n > 0 {
		s := wilson(c[1][1], n, level)
		d.Sensitivity = &s
	}
	if n := c[0][0] + c[0][1]; n > 0 {
		s := wilson(c[0][0], n, level)
		d.Specificity = &s
	}
	return d
}

// MetricsSchema identifies the metrics.json layout.
const MetricsSchema = "xray.evaluator.metrics/v1"

// computeMetrics fills Metrics and the ROC curve from labels, predictions and scores.
func computeMetrics(truth, predicted []int, scores []float64, level float64) (Metrics, []ROCPoint) {
	c := confusion(truth, predicted)
	n := len(truth)
	per, macro, weighted := classReport(c)
	m := Metrics{
		Schema:       MetricsSchema,
		N:            n,
		Classes:      [2]string{labels.Default().Name(labels.Normal), labels.Default().Name(labels.Pneumonia)},
		Confusion:    c,
		Prediction:   "argmax over (p_normal, p_pneumonia); ties go to class 0 (normal)",
		Accuracy:     float64(c[0][0]+c[1][1]) / float64(n),
		PerClass:     per,
		MacroAvg:     macro,
		WeightedAvg:  weighted,
		ZeroDivision: 0,
		AccuracyCI:   wilson(c[0][0]+c[1][1], n, level),
		CIMethod:     "wilson",
		CILevel:      level,
		Undefined:    map[string]string{},
	}
	positives, negatives := per[labels.Pneumonia].Support, per[labels.Normal].Support
	var curve []ROCPoint
	if positives > 0 && negatives > 0 {
		curve = rocCurve(truth, scores)
		auc := trapezoidArea(curve)
		m.ROCAUC = &auc
	} else {
		m.Undefined["roc_auc"] = fmt.Sprintf("only one class present in the labels (%s); ROC AUC needs both", onlyClass(positives))
	}
	if positives > 0 {
		ap := averagePrecision(truth, scores)
		m.AveragePrecision = &ap
		s := wilson(c[1][1], positives, level)
		m.Sensitivity = &s
	} else {
		m.Undefined["average_precision"] = "no pneumonia cases in the labels; average precision needs at least one"
		m.Undefined["sensitivity"] = "no pneumonia cases in the labels"
	}
	if negatives > 0 {
		s := wilson(c[0][0], negatives, level)
		m.Specificity = &s
	} else {
		m.Undefined["specificity"] = "no normal cases in the labels"
	}
	if len(m.Undefined) == 0 {
		m.Undefined = nil
	}
	m.Calibration = calibrate(truth, scores)
	m.Table1 = table1(m)
	return m, curve
}

func onlyClass(positives int) string {
	if positives > 0 {
		return labels.Default().Name(labels.Pneumonia)
	}
	return labels.Default().Name(labels.Normal)
}
