package metrics

import (
	"math"
	"sort"

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

// Confusion counts labels against argmax predictions: c[true][predicted].
func Confusion(truth, predicted []int) [2][2]int {
	var c [2][2]int
	for i := range truth {
		c[truth[i]][predicted[i]]++
	}
	return c
}

// Divide is sklearn's _prf_divide with zero_division=0: 0/0 is reported as 0.
func Divide(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// ClassReport computes per-class precision, recall and F1 exactly as
// sklearn.metrics.precision_recall_fscore_support(labels=[0, 1], zero_division=0):
// F1 is 2·tp / (true + predicted), sklearn's own form, so ratios agree to the last bits.
func ClassReport(c [2][2]int) (per [2]ClassMetrics, macro, weighted ClassMetrics) {
	total := 0
	for k := 0; k < 2; k++ {
		tp := float64(c[k][k])
		trueSum := float64(c[k][0] + c[k][1])
		predSum := float64(c[0][k] + c[1][k])
		per[k] = ClassMetrics{
			Class:     labels.Default().Name(k),
			Precision: Divide(tp, predSum),
			Recall:    Divide(tp, trueSum),
			F1:        Divide(2*tp, trueSum+predSum),
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

// Wilson is the Wilson score interval for successes out of trials at the given two-sided
// confidence level, in statsmodels' proportion_confint(method="wilson") form. The bounds
// are clamped to [0, 1] against rounding at p = 0 or 1.
func Wilson(successes, trials int, level float64) Interval {
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

// ROCCurve is sklearn.metrics.roc_curve(drop_intermediate=True). Both classes must be present.
func ROCCurve(truth []int, scores []float64) []ROCPoint {
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

// TrapezoidArea is sklearn.metrics.auc on an increasing-FPR curve.
func TrapezoidArea(curve []ROCPoint) float64 {
	area := 0.0
	for i := 1; i < len(curve); i++ {
		area += (curve[i].FPR - curve[i-1].FPR) * (curve[i].TPR + curve[i-1].TPR) / 2
	}
	return area
}

// AveragePrecision is sklearn.metrics.average_precision_score: the step-wise sum
// Σ (R_k − R_{k−1})·P_k over thresholds, not an interpolated area. At least one positive
// is required (sklearn warns and returns 0 without one; the caller reports it undefined).
func AveragePrecision(truth []int, scores []float64) float64 {
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
