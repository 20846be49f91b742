package shift

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/internal/plotstyle"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Files of the shift report, beside report.md.
const (
	MarkdownFile = "shift.md"
	CSVFile      = "shift.csv"
	JSONFile     = "shift.json"
	PlotFile     = "shift.png"
)

// Write writes the shift report's table (markdown, CSV, JSON) and plot into dir.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shift report: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("shift report: %w", err)
	}
	png, err := PNG(r)
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{MarkdownFile: []byte(r.Markdown()), CSVFile: r.CSV(), JSONFile: append(js, '\n'), PlotFile: png} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), b); err != nil {
			return fmt.Errorf("shift report: %w", err)
		}
	}
	return nil
}

func fmtOpt(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", *v)
}

// Markdown is the table, one row per perturbation and level, the clean baseline first,
// with each metric's change from it; with adaptation, each metric is followed by the
// adapted model's, with its change from the unadapted one of the same row (the gain).
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Shift report: %s on %s (%d images)\n\n", r.Model, r.Split, r.Rows[0].N)
	b.WriteString("Perturbations of the decoded images imitating another scanner (package perturb); argmax decision.\n")
	cols := []string{"accuracy", "sensitivity", "specificity", "ROC AUC"}
	if a := r.Adaptation; a != nil {
		fmt.Fprintf(&b, "Adapted: for each row, the model's BatchNormalization statistics re-estimated (xray adapt, %s mode) on %d images of the %s split under the same perturbation; "+
			"each \"adapted\" column shows the change from the unadapted model of the same row.\n", a.Mode, a.Images, a.Split)
		cols = []string{"accuracy", "adapted", "sensitivity", "adapted", "specificity", "adapted", "ROC AUC", "adapted"}
	}
	b.WriteString("\n| perturbation | level | parameter | " + strings.Join(cols, " | ") + " |\n|---|---|---|" + strings.Repeat("---|", len(cols)) + "\n")
	base := r.Rows[0]
	delta := func(v, b *float64) string {
		if v == nil || b == nil || v == b {
			return fmtOpt(v)
		}
		return fmt.Sprintf("%.4f (%+.4f)", *v, *v-*b)
	}
	for i, row := range r.Rows {
		param := strconv.FormatFloat(row.Param, 'g', -1, 64)
		cells := []string{delta(&row.Accuracy, &base.Accuracy), delta(row.Sensitivity, base.Sensitivity), delta(row.Specificity, base.Specificity), delta(row.ROCAUC, base.ROCAUC)}
		if i == 0 {
			param, cells[0] = "", fmtOpt(&row.Accuracy)
		}
		if ad := row.Adapted; ad != nil {
			s := row.Scores
			cells = []string{cells[0], delta(&ad.Accuracy, &s.Accuracy), cells[1], delta(ad.Sensitivity, s.Sensitivity),
				cells[2], delta(ad.Specificity, s.Specificity), cells[3], delta(ad.ROCAUC, s.ROCAUC)}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", row.Perturbation, row.Level, param, strings.Join(cells, " | "))
	}
	return b.String()
}

// CSV is the table as perturbation,level,param,n,accuracy,sensitivity,specificity,roc_auc
// (empty where undefined), and with adaptation adapted_accuracy, adapted_sensitivity,
// adapted_specificity, adapted_roc_auc after them.
func (r *Report) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"perturbation", "level", "param", "n", "accuracy", "sensitivity", "specificity", "roc_auc"}
	if r.Adaptation != nil {
		head = append(head, "adapted_accuracy", "adapted_sensitivity", "adapted_specificity", "adapted_roc_auc")
	}
	w.Write(head)
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	scores := func(s Scores) []string {
		return []string{strconv.FormatFloat(s.Accuracy, 'g', -1, 64), opt(s.Sensitivity), opt(s.Specificity), opt(s.ROCAUC)}
	}
	for _, row := range r.Rows {
		rec := append([]string{row.Perturbation, strconv.Itoa(row.Level), strconv.FormatFloat(row.Param, 'g', -1, 64), strconv.Itoa(row.N)}, scores(row.Scores)...)
		if r.Adaptation != nil && row.Adapted != nil {
			rec = append(rec, scores(*row.Adapted)...)
		}
		w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// PNG draws accuracy, specificity and ROC AUC against severity (0: clean), one line
// per perturbation, side by side; with adaptation, the adapted model's as dashed lines
// of the same colour.
func PNG(r *Report) (png []byte, err error) {
	defer plotstyle.Recover("shift", &err)
	metrics := []struct {
		name string
		get  func(Scores) *float64
	}{
		{"Accuracy", func(s Scores) *float64 { return &s.Accuracy }},
		{"Specificity", func(s Scores) *float64 { return s.Specificity }},
		{"ROC AUC", func(s Scores) *float64 { return s.ROCAUC }},
	}
	var kinds []string
	for _, row := range r.Rows[1:] {
		if len(kinds) == 0 || kinds[len(kinds)-1] != row.Perturbation {
			kinds = append(kinds, row.Perturbation)
		}
	}
	views := []bool{false}
	if r.Adaptation != nil {
		views = append(views, true)
	}
	plots := make([][]*plot.Plot, 1)
	for _, m := range metrics {
		p := plot.New()
		p.Title.Text = m.name
		if r.Adaptation != nil {
			p.Title.Text += " (dashed: adapted)"
		}
		p.X.Label.Text = "severity (0: clean)"
		plotstyle.Fonts(p)
		p.Add(plotter.NewGrid())
		for k, kind := range kinds {
			for _, adapted := range views {
				line, points, err := plotter.NewLinePoints(severityLine(r, kind, m.get, adapted))
				if err != nil {
					return nil, fmt.Errorf("shift plot: %w", err)
				}
				c := plotColors[k%len(plotColors)]
				line.Color, points.Color = c, c
				if adapted {
					line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				p.Add(line, points)
				if m.name == "Accuracy" && !adapted {
					p.Legend.Add(kind, line, points)
				}
			}
		}
		p.Legend.Top, p.Legend.Left = false, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		plots[0] = append(plots[0], p)
	}
	w, h := 13.5*vg.Inch, 4.5*vg.Inch
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(plotstyle.DPI))
	dc := draw.New(c)
	t := draw.Tiles{Rows: 1, Cols: len(metrics), PadX: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align(plots, t, dc)
	for j, p := range plots[0] {
		p.Draw(canvases[0][j])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("shift plot: %w", err)
	}
	return buf.Bytes(), nil
}

// severityLine is one perturbation's metric against severity, from the clean row on, of
// the unadapted or the adapted model.
func severityLine(r *Report, kind string, get func(Scores) *float64, adapted bool) plotter.XYs {
	xys := plotter.XYs{}
	for i, row := range r.Rows {
		s := &row.Scores
		if adapted {
			s = row.Adapted
		}
		if s == nil || (i > 0 && row.Perturbation != kind) {
			continue
		}
		if v := get(*s); v != nil {
			xys = append(xys, plotter.XY{X: float64(row.Level), Y: *v})
		}
	}
	return xys
}

// plotColors tell the perturbations apart (Tableau 10).
var plotColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}
