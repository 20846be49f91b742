package evaluator

import (
	"fmt"
	"strings"

	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/labels"
)

// ClassProbs is one image as a model of more than two classes sees it: its true class
// and the model's probability of each class, in the order of Set.
type ClassProbs struct {
	Set   labels.Set
	Label int
	Probs []float64
}

// NewClassProbs is a model's prediction of an image of class label as ClassProbs.
func NewClassProbs(set labels.Set, label int, probs []float32) *ClassProbs {
	c := &ClassProbs{Set: set, Label: label, Probs: make([]float64, len(probs))}
	for i, p := range probs {
		c.Probs[i] = float64(p)
	}
	return c
}

// classesOf evaluates the records' own classes when every record carries them (nil, nil
// otherwise), with the bacterial-vs-viral view when those are among the classes.
func classesOf(records []Record, level float64) (*ClassesMetrics, *SubtypeView, error) {
	if records[0].Classes == nil {
		return nil, nil, nil
	}
	set := records[0].Classes.Set
	truth := make([]int, len(records))
	probs := make([][]float64, len(records))
	for i, r := range records {
		if r.Classes == nil || !r.Classes.Set.Equal(set) {
			return nil, nil, fmt.Errorf("record %d (%s): classes differ from the first record's %s", i+1, r.Path, set)
		}
		truth[i], probs[i] = r.Classes.Label, r.Classes.Probs
	}
	m, err := EvaluateClasses(truth, probs, set, level)
	if err != nil {
		return nil, nil, err
	}
	// Its only errors are no bacterial and viral classes or images (the input is checked
	// above): then there is no view.
	view, err := BacterialVsViral(set, truth, probs, level)
	if err != nil {
		return m, nil, nil
	}
	return m, view, nil
}

// writeClasses is report.md's section on a model of more classes.
func writeClasses(b *strings.Builder, m Metrics, level string) {
	c := m.MultiClass
	fmt.Fprintf(b, "## All %d classes (argmax over %s)\n\n", len(c.Classes), strings.Join(c.Classes, ", "))
	fmt.Fprintf(b, "| true \\ predicted | %s | total |\n|---|%s---:|\n", strings.Join(c.Classes, " | "), strings.Repeat("---:|", len(c.Classes)))
	for t, row := range c.Confusion {
		total, cells := 0, make([]string, len(row))
		for p, v := range row {
			total, cells[p] = total+v, fmt.Sprint(v)
		}
		fmt.Fprintf(b, "| %s | %s | %d |\n", c.Classes[t], strings.Join(cells, " | "), total)
	}
	b.WriteString("\n| | precision | recall | f1-score | support | ROC AUC one-vs-rest (" + level + " CI) |\n|---|---:|---:|---:|---:|---|\n")
	for k, r := range c.PerClass {
		a := c.AUC[k]
		auc := "undefined (the class is absent, or alone)"
		if a.AUC != nil {
			auc = fmt.Sprintf("%.4f (%.4f-%.4f)", *a.AUC, *a.Lower, *a.Upper)
		}
		fmt.Fprintf(b, "| %s | %.4f | %.4f | %.4f | %d | %s |\n", r.Class, r.Precision, r.Recall, r.F1, r.Support, auc)
	}
	fmt.Fprintf(b, "| accuracy | | | %.4f | %d | |\n", c.Accuracy.Estimate, c.N)
	for _, r := range []metrics.ClassMetrics{c.Macro, c.Weighted} {
		fmt.Fprintf(b, "| %s | %.4f | %.4f | %.4f | %d | |\n", r.Class, r.Precision, r.Recall, r.F1, r.Support)
	}
	fmt.Fprintf(b, "\nMacro one-vs-rest ROC AUC (over the classes present): %s. AUC intervals are Hanley & McNeil (1982).\n\n",
		optional(c.MacroAUC, "one class present"))
	if v := m.BacterialVsViral; v != nil {
		fmt.Fprintf(b, "## Bacterial vs viral among the %d pneumonia images (Kermany et al. 2018)\n\n", v.N)
		fmt.Fprintf(b, "- Accuracy: %s\n", interval(&v.Accuracy, level, ""))
		fmt.Fprintf(b, "- Sensitivity (bacterial recall): %s\n", interval(trialsOrNil(v.Sensitivity), level, "no bacterial images"))
		fmt.Fprintf(b, "- Specificity (viral recall): %s\n", interval(trialsOrNil(v.Specificity), level, "no viral images"))
		auc := "undefined (one of the two is absent)"
		if v.AUC != nil {
			auc = fmt.Sprintf("%.4f (%s CI %.4f-%.4f)", *v.AUC, level, *v.AUCLower, *v.AUCUpper)
		}
		fmt.Fprintf(b, "- ROC AUC of p_bacterial / (p_bacterial + p_viral): %s\n\n", auc)
	}
	b.WriteString("The sections below are the normal-vs-pneumonia view (p_pneumonia = the sum of the other classes).\n\n")
}

// trialsOrNil is &v, or nil when v has no trials (an undefined proportion).
func trialsOrNil(v metrics.Interval) *metrics.Interval {
	if v.Trials == 0 {
		return nil
	}
	return &v
}
