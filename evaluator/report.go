package evaluator

import (
	"fmt"
	"strings"

	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/labels"
)

// Markdown renders report.md: the confusion matrix, sklearn's classification report, the
// metrics beyond the paper and the Table 1 row.
func (r *Report) Markdown() string {
	m := r.Metrics
	var b strings.Builder
	title := "Evaluation"
	if m.Model != "" {
		title += " of " + m.Model
	}
	if m.Split != "" {
		title += " on the " + m.Split + " split"
	}
	fmt.Fprintf(&b, "# %s (%d images)\n\n", title, m.N)
	if m.Source != "" {
		fmt.Fprintf(&b, "Predictions: `%s`  \n", m.Source)
	}
	fmt.Fprintf(&b, "Split fingerprint (sha256 of sorted path, label): `%s`  \n", m.SplitSHA256)
	fmt.Fprintf(&b, "Prediction: %s.\n\n", m.Prediction)
	if m.MultiClass != nil {
		writeClasses(&b, m, fmt.Sprintf("%g %%", m.CILevel*100))
	}

	b.WriteString("## Confusion matrix (rows true, columns predicted)\n\n")
	b.WriteString("| true \\ predicted | normal | pneumonia | total |\n|---|---:|---:|---:|\n")
	for k := 0; k < 2; k++ {
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", labels.Default().Name(k), m.Confusion[k][0], m.Confusion[k][1], m.Confusion[k][0]+m.Confusion[k][1])
	}
	b.WriteString("\n")

	b.WriteString("## Classification report (sklearn definitions, zero_division=0)\n\n")
	b.WriteString("| | precision | recall | f1-score | support |\n|---|---:|---:|---:|---:|\n")
	row := func(c metrics.ClassMetrics) {
		fmt.Fprintf(&b, "| %s | %.4f | %.4f | %.4f | %d |\n", c.Class, c.Precision, c.Recall, c.F1, c.Support)
	}
	row(m.PerClass[labels.Normal])
	row(m.PerClass[labels.Pneumonia])
	fmt.Fprintf(&b, "| accuracy | | | %.4f | %d |\n", m.Accuracy, m.N)
	row(m.MacroAvg)
	row(m.WeightedAvg)
	b.WriteString("\nA precision, recall or F1 whose denominator is 0 is reported as 0 (sklearn's zero_division=0).\n\n")

	level := fmt.Sprintf("%g %%", m.CILevel*100)
	b.WriteString("## Beyond the paper\n\n")
	fmt.Fprintf(&b, "- ROC AUC (score p_pneumonia): %s\n", optional(m.ROCAUC, m.Undefined["roc_auc"]))
	fmt.Fprintf(&b, "- Average precision (sklearn's step-wise sum, not interpolated): %s\n",
		optional(m.AveragePrecision, m.Undefined["average_precision"]))
	fmt.Fprintf(&b, "- Sensitivity (pneumonia recall): %s\n", interval(m.Sensitivity, level, m.Undefined["sensitivity"]))
	fmt.Fprintf(&b, "- Specificity (normal recall): %s\n", interval(m.Specificity, level, m.Undefined["specificity"]))
	fmt.Fprintf(&b, "- Accuracy: %s\n", interval(&m.AccuracyCI, level, ""))
	fmt.Fprintf(&b, "- Brier score (mean squared error of p_pneumonia): %.4f\n", m.Calibration.Brier)
	fmt.Fprintf(&b, "- Expected calibration error (%d equal-width bins of p_pneumonia): %.4f\n", metrics.CalibrationBins, m.Calibration.ECE)
	fmt.Fprintf(&b, "\nConfidence intervals are %s Wilson score intervals.\n\n", level)
	writeDecisions(&b, m.Decisions, level)

	b.WriteString("## Table 1 row (the paper's format)\n\n")
	writeTable1(&b, []string{"model"}, [][]string{append([]string{orDash(m.Model)}, m.Table1.Cells()...)})
	if p, ok := PaperRowFor(m.Model); ok {
		fmt.Fprintf(&b, "\nThe paper's row (%s): %s.\n", PaperCitation, strings.Join(p.Table1().Cells(), " / "))
	}
	return b.String()
}

// writeDecisions compares the decision rules (argmax and the model's operating threshold).
func writeDecisions(b *strings.Builder, ds []DecisionMetrics, level string) {
	if len(ds) < 2 {
		return
	}
	b.WriteString("## Decision rules\n\n")
	b.WriteString("| decision | threshold | accuracy | sensitivity | specificity |\n|---|---:|---:|---:|---:|\n")
	rate := func(v *metrics.Interval) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f [%.4f, %.4f]", v.Estimate, v.Lower, v.Upper)
	}
	for _, d := range ds {
		th := "-"
		if d.Threshold != nil {
			th = fmt.Sprintf("%.4f", *d.Threshold)
		}
		fmt.Fprintf(b, "| %s | %s | %.4f | %s | %s |\n", d.Rule, th, d.Accuracy, rate(d.Sensitivity), rate(d.Specificity))
	}
	fmt.Fprintf(b, "\nThe threshold decides pneumonia when p_pneumonia >= it; it was chosen on the model's validation split. Intervals: %s Wilson.\n\n", level)
}

// writeTable1 writes a Markdown table: lead columns, then the Table 1 columns.
func writeTable1(b *strings.Builder, lead []string, rows [][]string) {
	header := append(append([]string{}, lead...), Table1Header...)
	fmt.Fprintf(b, "| %s |\n|", strings.Join(header, " | "))
	for i := range header {
		if i < len(lead) {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s |\n", strings.Join(r, " | "))
	}
}

func optional(v *float64, reason string) string {
	if v == nil {
		return "undefined (" + reason + ")"
	}
	return fmt.Sprintf("%.4f", *v)
}

func interval(v *metrics.Interval, level, reason string) string {
	if v == nil {
		return "undefined (" + reason + ")"
	}
	return fmt.Sprintf("%.4f (%d/%d), %s CI [%.4f, %.4f]", v.Estimate, v.Successes, v.Trials, level, v.Lower, v.Upper)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
