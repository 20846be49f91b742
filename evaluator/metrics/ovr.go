package metrics

import (
	"fmt"
	"math"
)

// OneVsRestAUC is the ROC AUC of each class against the others, scored by that class's
// probability (sklearn's roc_auc_score(y == k, probs[:, k]) per class k), and their
// macro average over the classes where it is defined. A class absent from truth (or
// the only one present) has an undefined area, NaN, and is left out of the average;
// sklearn's roc_auc_score(multi_class="ovr") refuses such labels outright. For two
// classes the macro average is ROCAUC of p(pneumonia): both areas are equal.
func OneVsRestAUC(truth []int, probs [][]float64) (macro float64, perClass []float64, err error) {
	if len(truth) == 0 || len(truth) != len(probs) {
		return math.NaN(), nil, fmt.Errorf("one-vs-rest ROC AUC of %d labels and %d probability rows: want the same, non-zero number", len(truth), len(probs))
	}
	n := len(probs[0])
	for i, l := range truth {
		if len(probs[i]) != n {
			return math.NaN(), nil, fmt.Errorf("one-vs-rest ROC AUC: row %d has %d probabilities, row 0 %d", i, len(probs[i]), n)
		}
		if l < 0 || l >= n {
			return math.NaN(), nil, fmt.Errorf("one-vs-rest ROC AUC: label %d at %d: want a class id 0..%d", l, i, n-1)
		}
	}
	perClass = make([]float64, n)
	bin := make([]int, len(truth))
	scores := make([]float64, len(truth))
	sum, defined := 0.0, 0
	for k := range n {
		for i, l := range truth {
			bin[i], scores[i] = 0, probs[i][k]
			if l == k {
				bin[i] = 1
			}
		}
		a, err := ROCAUC(bin, scores)
		switch {
		case err == ErrOneClass:
			perClass[k] = math.NaN()
			continue
		case err != nil:
			return math.NaN(), nil, err
		}
		perClass[k], sum, defined = a, sum+a, defined+1
	}
	if defined == 0 {
		return math.NaN(), perClass, ErrOneClass
	}
	return sum / float64(defined), perClass, nil
}
