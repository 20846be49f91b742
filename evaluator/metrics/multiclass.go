package metrics

import "math"

// ArgmaxRow is the first index of the largest value (np.argmax).
func ArgmaxRow(p []float64) int {
	k := 0
	for i, v := range p {
		if v > p[k] {
			k = i
		}
	}
	return k
}

// ClassReportN is classReport for N classes: sklearn's precision_recall_fscore_support
// (labels=range(N), zero_division=0) with its macro and support-weighted averages.
func ClassReportN(c [][]int, names []string) (per []ClassMetrics, macro, weighted ClassMetrics) {
	k, total := len(c), 0
	for i := range k {
		tp, trueSum, predSum := float64(c[i][i]), 0, 0
		for j := range k {
			trueSum += c[i][j]
			predSum += c[j][i]
		}
		f1 := Divide(2*tp, float64(trueSum+predSum))
		per = append(per, ClassMetrics{Class: names[i], Precision: Divide(tp, float64(predSum)), Recall: Divide(tp, float64(trueSum)), F1: f1, Support: trueSum})
		total += trueSum
	}
	macro, weighted = ClassMetrics{Class: "macro avg", Support: total}, ClassMetrics{Class: "weighted avg", Support: total}
	for _, p := range per {
		macro.Precision += p.Precision / float64(k)
		macro.Recall += p.Recall / float64(k)
		macro.F1 += p.F1 / float64(k)
		w := Divide(float64(p.Support), float64(total))
		weighted.Precision += p.Precision * w
		weighted.Recall += p.Recall * w
		weighted.F1 += p.F1 * w
	}
	return per, macro, weighted
}

// HanleyMcNeil is the confidence interval of an AUC from its positives and negatives
// (Hanley & McNeil 1982, the exponential approximation), clipped to [0, 1]; NaN when the
// AUC is undefined.
func HanleyMcNeil(a float64, pos, neg int, level float64) (lo, hi float64) {
	if math.IsNaN(a) || pos == 0 || neg == 0 {
		return math.NaN(), math.NaN()
	}
	z := math.Sqrt2 * math.Erfinv(level)
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	se := math.Sqrt((a*(1-a) + float64(pos-1)*(q1-a*a) + float64(neg-1)*(q2-a*a)) / float64(pos*neg))
	return math.Max(0, a-z*se), math.Min(1, a+z*se)
}

// WilsonOf is wilson, or the zero Interval when there are no trials.
func WilsonOf(successes, trials int, level float64) Interval {
	if trials == 0 {
		return Interval{}
	}
	return Wilson(successes, trials, level)
}
