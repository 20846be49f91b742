package evaluator

import (
	"fmt"
	"image/color"

	"github.com/xraylab/xray/internal/plotstyle"
	"github.com/xraylab/xray/labels"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// confusionGrid is a confusion matrix as a heat map grid: column c = predicted class,
// row r = true class drawn bottom-up, so normal (class 0) sits on top as in Figures 9-11.
type confusionGrid [][]int

func (g confusionGrid) Dims() (c, r int)   { return len(g), len(g) }
func (g confusionGrid) Z(c, r int) float64 { return float64(g[len(g)-1-r][c]) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// blues is a smooth white-to-navy palette (the ends of ColorBrewer's Blues).
type blues struct{}

func (blues) Colors() []color.Color {
	stops := []color.RGBA{{0xf7, 0xfb, 0xff, 0xff}, {0x6b, 0xae, 0xd6, 0xff}, {0x08, 0x30, 0x6b, 0xff}}
	const n = 256
	out := make([]color.Color, n)
	for i := range out {
		t := float64(i) / (n - 1) * float64(len(stops)-1)
		k := min(int(t), len(stops)-2)
		f := t - float64(k)
		lerp := func(a, b uint8) uint8 { return uint8(float64(a) + f*(float64(b)-float64(a)) + 0.5) }
		a, b := stops[k], stops[k+1]
		out[i] = color.RGBA{lerp(a.R, b.R), lerp(a.G, b.G), lerp(a.B, b.B), 0xff}
	}
	return out
}

// ClassesConfusionPNG draws the N x N confusion matrix of a model of more classes as
// ConfusionPNG draws the two-class one; nil when m has no N-class metrics.
func ClassesConfusionPNG(m Metrics) ([]byte, error) {
	if m.MultiClass == nil {
		return nil, nil
	}
	return confusionPNG(m.Model, m.N, m.MultiClass.Classes, m.MultiClass.Confusion)
}

// ConfusionPNG draws the confusion matrix like the paper's Figures 9-11: a 2 x 2 heat map,
// true class down the side, predicted class along the bottom, the count (and the share of
// its true class) in each cell.
func ConfusionPNG(m Metrics) (png []byte, err error) {
	return confusionPNG(m.Model, m.N, labels.Default().Names(), [][]int{m.Confusion[0][:], m.Confusion[1][:]})
}

// confusionPNG draws counts[true][predicted] of the named classes.
func confusionPNG(model string, n int, names []string, counts [][]int) (png []byte, err error) {
	defer plotstyle.Recover("confusion", &err)
	k := len(names)
	p := plot.New()
	p.Title.Text = "Confusion matrix"
	if model != "" {
		p.Title.Text += ": " + model
	}
	p.Title.Text += fmt.Sprintf(" (%d images)", n)
	p.X.Label.Text = "Predicted label"
	p.Y.Label.Text = "True label"
	plotstyle.Fonts(p)

	maxCount := 1
	for _, row := range counts {
		for _, v := range row {
			maxCount = max(maxCount, v)
		}
	}
	hm := plotter.NewHeatMap(confusionGrid(counts), blues{})
	hm.Min, hm.Max = 0, float64(maxCount)
	p.Add(hm)

	lb, err := confusionLabels(counts, maxCount)
	if err != nil {
		return nil, err
	}
	p.Add(lb)

	hi := float64(k) - 0.5
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -0.5, hi, -0.5, hi
	var xt, yt plot.ConstantTicks
	for c, name := range names {
		xt = append(xt, plot.Tick{Value: float64(c), Label: name})
		yt = append(yt, plot.Tick{Value: float64(k - 1 - c), Label: name})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Padding, p.Y.Padding = 0, 0
	return plotstyle.PNG(p, vg.Length(3+1.25*float64(k))*vg.Inch, vg.Length(2.5+1.25*float64(k))*vg.Inch)
}

// confusionLabels writes each cell's count and its share of the true class's row, white
// on the dark cells.
func confusionLabels(counts [][]int, maxCount int) (*plotter.Labels, error) {
	k := len(counts)
	var xys plotter.XYs
	var cellText []string
	var styles []text.Style
	for t := range k {
		rowTotal := 0
		for _, v := range counts[t] {
			rowTotal += v
		}
		for pr := range k {
			n := counts[t][pr]
			xys = append(xys, plotter.XY{X: float64(pr), Y: float64(k - 1 - t)})
			share := "-"
			if rowTotal > 0 {
				share = fmt.Sprintf("%.1f %%", 100*float64(n)/float64(rowTotal))
			}
			cellText = append(cellText, fmt.Sprintf("%d\n(%s)", n, share))
			st := text.Style{Color: color.Black, Font: plot.DefaultFont, XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
			st.Font.Size = vg.Points(18)
			if float64(n) > 0.55*float64(maxCount) {
				st.Color = color.White // readable on the dark cells
			}
			styles = append(styles, st)
		}
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: cellText})
	if err != nil {
		return nil, fmt.Errorf("confusion plot: %w", err)
	}
	lb.TextStyle = styles
	return lb, nil
}

// ROCPNG draws the ROC curve with the chance diagonal and the argmax operating point;
// with one class present it draws the empty axes and says why.
func ROCPNG(r *Report) (png []byte, err error) {
	defer plotstyle.Recover("roc", &err)
	m := r.Metrics
	p := plot.New()
	p.X.Label.Text = "False positive rate (1 - specificity)"
	p.Y.Label.Text = "True positive rate (sensitivity)"
	plotstyle.Fonts(p)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	name := "ROC"
	if m.Model != "" {
		name += ": " + m.Model
	}

	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, fmt.Errorf("roc plot: %w", err)
	}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	diag.Color = color.Gray{Y: 0x80}
	p.Add(diag)
	p.Legend.Add("chance", diag)

	if m.ROCAUC == nil {
		p.Title.Text = name + ": undefined, " + m.Undefined["roc_auc"]
		p.Title.TextStyle.Font.Size = vg.Points(10)
	} else {
		p.Title.Text = fmt.Sprintf("%s (AUC %.4f, %d images)", name, *m.ROCAUC, m.N)
		xys := make(plotter.XYs, len(r.ROC))
		for i, pt := range r.ROC {
			xys[i] = plotter.XY{X: pt.FPR, Y: pt.TPR}
		}
		curve, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("roc plot: %w", err)
		}
		curve.Width = vg.Points(2)
		curve.Color = color.RGBA{0x08, 0x51, 0x9c, 0xff}
		p.Add(curve)
		p.Legend.Add("ROC (score p_pneumonia)", curve)

		if err := addOperatingPoints(p, m); err != nil {
			return nil, err
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return plotstyle.PNG(p, 5.5*vg.Inch, 5.5*vg.Inch)
}

// addOperatingPoints marks each decision rule's (1 - specificity, sensitivity) on the
// ROC plot: argmax in red, the model's operating threshold in green.
func addOperatingPoints(p *plot.Plot, m Metrics) error {
	colors := []color.RGBA{{0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}}
	for i, d := range m.Decisions {
		if d.Sensitivity == nil || d.Specificity == nil || i >= len(colors) {
			continue
		}
		op, err := plotter.NewScatter(plotter.XYs{{X: 1 - d.Specificity.Estimate, Y: d.Sensitivity.Estimate}})
		if err != nil {
			return fmt.Errorf("roc plot: %w", err)
		}
		op.GlyphStyle = draw.GlyphStyle{Color: colors[i], Radius: vg.Points(5), Shape: draw.CircleGlyph{}}
		p.Add(op)
		name := d.Rule
		if d.Threshold != nil {
			name = fmt.Sprintf("%s (p >= %.3f)", d.Rule, *d.Threshold)
		}
		p.Legend.Add(fmt.Sprintf("%s: sens %.3f, spec %.3f", name, d.Sensitivity.Estimate, d.Specificity.Estimate), op)
	}
	return nil
}
