package metrics

import (
	"errors"
	"fmt"
	"math"

	"github.com/xraylab/xray/labels"
)

// ErrOneClass is returned by ROCAUC when the labels hold only one class: the area is
// undefined (sklearn raises the same).
var ErrOneClass = errors.New("ROC AUC needs both classes in the labels")

// ROCAUC is sklearn's roc_auc_score with scores as p(pneumonia): the one ROC AUC of the
// project, used by metrics.json and by training's val_auc. Labels are 0 (normal) or 1
// (pneumonia).
func ROCAUC(truth []int, scores []float64) (float64, error) {
	if len(truth) == 0 || len(truth) != len(scores) {
		return math.NaN(), fmt.Errorf("ROC AUC of %d labels and %d scores: want the same, non-zero number", len(truth), len(scores))
	}
	var pos int
	for i, l := range truth {
		if l != labels.Normal && l != labels.Pneumonia {
			return math.NaN(), fmt.Errorf("ROC AUC: label %d at %d: want 0 (normal) or 1 (pneumonia)", l, i)
		}
		if math.IsNaN(scores[i]) {
			return math.NaN(), fmt.Errorf("ROC AUC: score %d is NaN (a diverged model)", i)
		}
		pos += l
	}
	if pos == 0 || pos == len(truth) {
		return math.NaN(), ErrOneClass
	}
	return TrapezoidArea(ROCCurve(truth, scores)), nil
}
