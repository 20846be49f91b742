package evaluator

import (
	"fmt"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/labels"
)

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
	PerClass     [2]metrics.ClassMetrics `json:"per_class"`
	MacroAvg     metrics.ClassMetrics    `json:"macro_avg"`
	WeightedAvg  metrics.ClassMetrics    `json:"weighted_avg"`
	ZeroDivision float64                 `json:"zero_division"`
	// ROCAUC is sklearn's roc_auc_score with p(pneumonia) as the score.
	ROCAUC *float64 `json:"roc_auc"`
	// AveragePrecision is sklearn's average_precision_score (step-wise) on p(pneumonia).
	AveragePrecision *float64 `json:"average_precision"`
	// Sensitivity is pneumonia recall, Specificity normal recall, each with a Wilson interval.
	Sensitivity *metrics.Interval `json:"sensitivity"`
	Specificity *metrics.Interval `json:"specificity"`
	AccuracyCI  metrics.Interval  `json:"accuracy_ci"`
	CIMethod    string            `json:"ci_method"`
	CILevel     float64           `json:"ci_level"`
	// Decisions compares the decision rules on these images: argmax first, then the
	// model's operating threshold when it has one.
	Decisions []DecisionMetrics `json:"decisions"`
	// Calibration of p(pneumonia): Brier score, expected calibration error, reliability bins.
	Calibration metrics.Calibration `json:"calibration"`
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
	Rule        string            `json:"rule"`                // "argmax", or the threshold's rule
	Threshold   *float64          `json:"threshold,omitempty"` // pneumonia when p_pneumonia >= it
	Confusion   [2][2]int         `json:"confusion_matrix"`
	Accuracy    float64           `json:"accuracy"`
	Sensitivity *metrics.Interval `json:"sensitivity"`
	Specificity *metrics.Interval `json:"specificity"`
}

// decisionMetrics summarises predictions made by argmax (t nil) or by threshold t.
func decisionMetrics(labels, predicted []int, t *decision.Threshold, level float64) DecisionMetrics {
	c := metrics.Confusion(labels, predicted)
	d := DecisionMetrics{Rule: string(decision.Argmax), Confusion: c,
		Accuracy: float64(c[0][0]+c[1][1]) / float64(len(labels))}
	if t != nil {
		v := t.Value
		d.Rule, d.Threshold = string(t.Rule), &v
	}
	if n := c[1][0] + c[1][1]; n > 0 {
		s := metrics.Wilson(c[1][1], n, level)
		d.Sensitivity = &s
	}
	if n := c[0][0] + c[0][1]; n > 0 {
		s := metrics.Wilson(c[0][0], n, level)
		d.Specificity = &s
	}
	return d
}

// MetricsSchema identifies the metrics.json layout.
const MetricsSchema = "xray.evaluator.metrics/v1"

// computeMetrics fills Metrics and the ROC curve from labels, predictions and scores.
func computeMetrics(truth, predicted []int, scores []float64, level float64) (Metrics, []metrics.ROCPoint) {
	c := metrics.Confusion(truth, predicted)
	n := len(truth)
	per, macro, weighted := metrics.ClassReport(c)
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
		AccuracyCI:   metrics.Wilson(c[0][0]+c[1][1], n, level),
		CIMethod:     "wilson",
		CILevel:      level,
		Undefined:    map[string]string{},
	}
	positives, negatives := per[labels.Pneumonia].Support, per[labels.Normal].Support
	var curve []metrics.ROCPoint
	if positives > 0 && negatives > 0 {
		curve = metrics.ROCCurve(truth, scores)
		auc := metrics.TrapezoidArea(curve)
		m.ROCAUC = &auc
	} else {
		m.Undefined["roc_auc"] = fmt.Sprintf("only one class present in the labels (%s); ROC AUC needs both", onlyClass(positives))
	}
	if positives > 0 {
		ap := metrics.AveragePrecision(truth, scores)
		m.AveragePrecision = &ap
		s := metrics.Wilson(c[1][1], positives, level)
		m.Sensitivity = &s
	} else {
		m.Undefined["average_precision"] = "no pneumonia cases in the labels; average precision needs at least one"
		m.Undefined["sensitivity"] = "no pneumonia cases in the labels"
	}
	if negatives > 0 {
		s := metrics.Wilson(c[0][0], negatives, level)
		m.Specificity = &s
	} else {
		m.Undefined["specificity"] = "no normal cases in the labels"
	}
	if len(m.Undefined) == 0 {
		m.Undefined = nil
	}
	m.Calibration = metrics.Calibrate(truth, scores)
	m.Table1 = table1(m)
	return m, curve
}

func onlyClass(positives int) string {
	if positives > 0 {
		return labels.Default().Name(labels.Pneumonia)
	}
	return labels.Default().Name(labels.Normal)
}
