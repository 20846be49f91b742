package compare

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/internal/plotstyle"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Run is one run's evaluation, as found by LoadRun.
type Run struct {
	// Name is the run as given (a run directory or a metrics.json path).
	Name string
	// MetricsPath is the metrics.json that was read.
	MetricsPath string
	// Model is the architecture: run.json's "arch", else metrics.json's "model"; may be "".
	Model   string
	Metrics evaluator.Metrics
}

// File and ChartFile are what Write writes.
const (
	File      = "compare.md"
	ChartFile = "compare.png"
)

// ErrNotEvaluated is returned by LoadRun for a run without metrics.json: evaluate it
// first (evaluator.Run writes it).
var ErrNotEvaluated = errors.New("the run was not evaluated (evaluator.Run writes metrics.json)")

// LoadRun reads a run's test metrics. arg is a run directory (its eval-test/metrics.json,
// else its metrics.json) or a metrics.json file. The model comes from the run.json next
// to or above the metrics file, else from metrics.json's "model".
func LoadRun(arg string) (Run, error) {
	var candidates []string
	if st, err := os.Stat(arg); err != nil {
		return Run{}, fmt.Errorf("compare: %w", err)
	} else if st.IsDir() {
		candidates = []string{filepath.Join(arg, "eval-test", evaluator.MetricsFile), filepath.Join(arg, evaluator.MetricsFile)}
	} else {
		candidates = []string{arg}
	}
	path := ""
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			path = c
			break
		}
	}
	if path == "" {
		return Run{}, fmt.Errorf("compare: %s has no %s: %w", arg, strings.Join(candidates, " or "), ErrNotEvaluated)
	}
	m, err := evaluator.ReadMetrics(path)
	if err != nil {
		return Run{}, fmt.Errorf("compare: %w", err)
	}
	model := cmp.Or(evaluator.RunArch(filepath.Dir(path)), m.Model)
	return Run{Name: arg, MetricsPath: path, Model: model, Metrics: m}, nil
}

// Table is the runs side by side with the paper's Table 1.
type Table struct {
	Runs []Run
	// Warnings say why the numbers may not be comparable (different test splits,
	// unknown models).
	Warnings []string
}

// Load loads each run with LoadRun and compares them (Runs).
func Load(args []string) (*Table, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("compare: no runs given")
	}
	runs := make([]Run, 0, len(args))
	for _, a := range args {
		r, err := LoadRun(a)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return Runs(runs), nil
}

// Runs puts runs side by side and warns when they were not evaluated on the same
// images (their split_sha256 differ) or cannot be matched to a paper row.
func Runs(runs []Run) *Table {
	c := &Table{Runs: runs}
	var order []string
	groups := map[string][]string{}
	for _, r := range runs {
		sha := r.Metrics.SplitSHA256
		if sha == "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s has no split_sha256; cannot check that it used the same test split", r.Name))
			continue
		}
		key := fmt.Sprintf("%s (split %s, %d images)", sha[:min(12, len(sha))], cmp.Or(r.Metrics.Split, "-"), r.Metrics.N)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], r.Name)
	}
	if len(order) > 1 {
		parts := make([]string, len(order))
		for i, k := range order {
			parts[i] = strings.Join(groups[k], ", ") + " on " + k
		}
		c.Warnings = append(c.Warnings, "runs were not evaluated on the same test split, so their numbers are not comparable: "+strings.Join(parts, " vs "))
	}
	for _, r := range runs {
		if r.Model == "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: model unknown (no \"arch\" in run.json, no \"model\" in metrics.json); name its architecture when evaluating it to match it to a paper row", r.Name))
		} else if _, ok := evaluator.PaperRowFor(r.Model); !ok {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: model %q is not one of the paper's (xception, mobilenet, inceptionv3); no paper row to compare with", r.Name, r.Model))
		}
	}
	return c
}

// Markdown renders the comparison table: our runs, then the paper's published rows.
func (c *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("# Models on the test split, next to the paper\n\n")
	fmt.Fprintf(&b, "Rows marked *paper* are the published numbers of %s (not ours); the paper's "+
		"sensitivity and specificity are derived from its confusion matrices. Its three models were "+
		"not tested on the same images (their matrices have different class totals). Our intervals are 95 %% Wilson score intervals.\n\n", evaluator.PaperCitation)
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "> **Warning:** %s\n\n", w)
	}
	lead := []string{"source", "model", "images", "TN / FP / FN / TP"}
	var rows [][]string
	for _, r := range c.Runs {
		m := r.Metrics
		cm := m.Confusion
		row := []string{"ours: " + r.Name, cmp.Or(r.Model, "-"), fmt.Sprint(m.N), fmt.Sprintf("%d / %d / %d / %d", cm[0][0], cm[0][1], cm[1][0], cm[1][1])}
		row = append(row, m.Table1.Cells()...)
		auc := "-"
		if m.ROCAUC != nil {
			auc = fmt.Sprintf("%.4f", *m.ROCAUC)
		}
		row = append(row, auc, ciCell(m.Sensitivity), ciCell(m.Specificity))
		rows = append(rows, row)
	}
	for _, p := range evaluator.PaperTable1 {
		row := []string{"*paper*", p.Model, fmt.Sprint(p.TN + p.FP + p.FN + p.TP), fmt.Sprintf("%d / %d / %d / %d", p.TN, p.FP, p.FN, p.TP)}
		row = append(row, p.Table1().Cells()...)
		row = append(row, "-", fmt.Sprintf("%.3f", float64(p.TP)/float64(p.TP+p.FN)), fmt.Sprintf("%.3f", float64(p.TN)/float64(p.TN+p.FP)))
		rows = append(rows, row)
	}
	header := append(append(append([]string{}, lead...), evaluator.Table1Header...), "ROC AUC", "sensitivity", "specificity")
	fmt.Fprintf(&b, "| %s |\n|", strings.Join(header, " | "))
	for i := range header {
		if i < 2 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
	}
	return b.String()
}

func ciCell(v *metrics.Interval) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", v.Estimate, v.Lower, v.Upper)
}

// ChartPNG draws each run's accuracy next to the paper's for the same model.
func (c *Table) ChartPNG() (png []byte, err error) {
	defer plotstyle.Recover("compare", &err)
	p := plot.New()
	p.Title.Text = "Test accuracy: ours vs the paper's Table 1"
	p.Y.Label.Text = "accuracy"
	plotstyle.Fonts(p)
	ours := make(plotter.Values, len(c.Runs))
	paper := make(plotter.Values, len(c.Runs))
	names := make([]string, len(c.Runs))
	for i, r := range c.Runs {
		ours[i] = r.Metrics.Accuracy
		if pr, ok := evaluator.PaperRowFor(r.Model); ok {
			paper[i] = pr.Accuracy
		}
		names[i] = cmp.Or(r.Model, "-") + "\n" + filepath.Base(filepath.Clean(r.Name))
	}
	w := vg.Points(28)
	for i, s := range []struct {
		label string
		v     plotter.Values
		col   color.Color
	}{{"ours", ours, color.RGBA{0x08, 0x51, 0x9c, 0xff}}, {"paper", paper, color.RGBA{0xbd, 0xbd, 0xbd, 0xff}}} {
		bars, err := plotter.NewBarChart(s.v, w)
		if err != nil {
			return nil, fmt.Errorf("compare chart: %w", err)
		}
		bars.Color = s.col
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(2*i-1) * w / 2
		p.Add(bars)
		p.Legend.Add(s.label, bars)

		var xys plotter.XYs
		var labels []string
		for j, v := range s.v {
			if v > 0 {
				xys = append(xys, plotter.XY{X: float64(j), Y: v})
				labels = append(labels, fmt.Sprintf("%.3f", v))
			}
		}
		if len(xys) > 0 {
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			if err != nil {
				return nil, fmt.Errorf("compare chart: %w", err)
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].XAlign = draw.XCenter
				lb.TextStyle[k].Font.Size = vg.Points(8)
			}
			lb.Offset = vg.Point{X: bars.Offset, Y: vg.Points(3)}
			p.Add(lb)
		}
	}
	// headroom above 1.0 keeps the legend clear of the bars
	p.Y.Min, p.Y.Max = 0, 1.3
	p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.2, Label: "0.2"}, {Value: 0.4, Label: "0.4"},
		{Value: 0.6, Label: "0.6"}, {Value: 0.8, Label: "0.8"}, {Value: 1, Label: "1.0"}}
	p.NominalX(names...)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	width := max(4*vg.Inch, vg.Length(len(c.Runs))*1.4*vg.Inch)
	return plotstyle.PNG(p, width, 4*vg.Inch)
}

// Write writes compare.md and compare.png into dir, atomically.
func Write(dir string, c *Table) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("compare output: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, File), []byte(c.Markdown())); err != nil {
		return err
	}
	png, err := c.ChartPNG()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ChartFile), png)
}
