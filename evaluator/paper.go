package evaluator

import (
	"fmt"
	"strings"

	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/labels"
)

// Table1Row is a model's row in the paper's Table 1 format: accuracy with 3 decimals,
// precision / recall / F1 per class with 2 (Go's and Python's %f round the same way).
type Table1Row struct {
	Model     string `json:"model,omitempty"`
	Accuracy  string `json:"accuracy"`
	Normal    PRF    `json:"normal"`
	Pneumonia PRF    `json:"pneumonia"`
}

// PRF is precision, recall and F1, formatted.
type PRF struct {
	Precision string `json:"precision"`
	Recall    string `json:"recall"`
	F1        string `json:"f1"`
}

func table1(m Metrics) Table1Row {
	prf := func(c metrics.ClassMetrics) PRF {
		return PRF{fmt.Sprintf("%.2f", c.Precision), fmt.Sprintf("%.2f", c.Recall), fmt.Sprintf("%.2f", c.F1)}
	}
	return Table1Row{
		Model:     m.Model,
		Accuracy:  fmt.Sprintf("%.3f", m.Accuracy),
		Normal:    prf(m.PerClass[labels.Normal]),
		Pneumonia: prf(m.PerClass[labels.Pneumonia]),
	}
}

// Cells are the row's values in the column order of Table1Header.
func (t Table1Row) Cells() []string {
	return []string{t.Accuracy, t.Normal.Precision, t.Normal.Recall, t.Normal.F1,
		t.Pneumonia.Precision, t.Pneumonia.Recall, t.Pneumonia.F1}
}

// Table1Header names the columns of Table1Row.Cells.
var Table1Header = []string{"accuracy", "normal P", "normal R", "normal F1", "pneumonia P", "pneumonia R", "pneumonia F1"}

// PaperRow is one model's published result in Valero Gómez et al., CIIS 2021: Table 1
// and the confusion matrices of Figures 9-11 (shared/docs/paper-facts.md).
type PaperRow struct {
	Model string // architecture name as this project spells it
	// Confusion counts: TN normal kept normal, FP normal predicted pneumonia,
	// FN pneumonia predicted normal, TP pneumonia kept pneumonia.
	TN, FP, FN, TP int
	Accuracy       float64
	// Normal and Pneumonia are the published precision, recall, F1.
	Normal, Pneumonia [3]float64
}

// PaperTable1 is the paper's published Table 1 with its confusion matrices: the paper's
// numbers, not ours. Only MobileNet's matrix sums to the stated 345 normal / 815
// pneumonia test images; the paper's three models were not tested on the same images.
var PaperTable1 = []PaperRow{
	{Model: "xception", TN: 304, FP: 39, FN: 26, TP: 791, Accuracy: 0.944,
		Normal: [3]float64{0.92, 0.89, 0.90}, Pneumonia: [3]float64{0.95, 0.97, 0.96}},
	{Model: "mobilenet", TN: 330, FP: 15, FN: 29, TP: 786, Accuracy: 0.962,
		Normal: [3]float64{0.92, 0.96, 0.94}, Pneumonia: [3]float64{0.98, 0.96, 0.97}},
	{Model: "inceptionv3", TN: 279, FP: 29, FN: 26, TP: 826, Accuracy: 0.953,
		Normal: [3]float64{0.91, 0.91, 0.91}, Pneumonia: [3]float64{0.97, 0.97, 0.97}},
}

// PaperCitation names the source of PaperTable1.
const PaperCitation = "Valero Gómez et al., CIIS 2021, Table 1"

// Table1 formats the published row as Table1Row.
func (p PaperRow) Table1() Table1Row {
	f := func(v [3]float64) PRF {
		return PRF{fmt.Sprintf("%.2f", v[0]), fmt.Sprintf("%.2f", v[1]), fmt.Sprintf("%.2f", v[2])}
	}
	return Table1Row{Model: p.Model, Accuracy: fmt.Sprintf("%.3f", p.Accuracy), Normal: f(p.Normal), Pneumonia: f(p.Pneumonia)}
}

// PaperRowFor finds the paper's row for an architecture name, ignoring case and
// punctuation ("InceptionV3", "inception_v3").
func PaperRowFor(arch string) (PaperRow, bool) {
	key := normalizeArch(arch)
	for _, p := range PaperTable1 {
		if p.Model == key {
			return p, true
		}
	}
	return PaperRow{}, false
}

func normalizeArch(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
