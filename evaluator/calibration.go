package evaluator

import (
	"fmt"
	"image/color"

	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/internal/plotstyle"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CalibrationPNG draws the reliability diagram: fraction of pneumonia against mean
// p(pneumonia) per bin, the diagonal of perfect calibration, and the bin counts.
func CalibrationPNG(m Metrics) (png []byte, err error) {
	defer plotstyle.Recover("calibration", &err)
	p := plot.New()
	name := "Reliability"
	if m.Model != "" {
		name += ": " + m.Model
	}
	p.Title.Text = fmt.Sprintf("%s (ECE %.4f, Brier %.4f, %d bins)", name, m.Calibration.ECE, m.Calibration.Brier, metrics.CalibrationBins)
	p.X.Label.Text = "Mean predicted p(pneumonia)"
	p.Y.Label.Text = "Fraction with pneumonia"
	plotstyle.Fonts(p)
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, fmt.Errorf("calibration plot: %w", err)
	}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	diag.Color = color.Gray{Y: 0x80}
	p.Add(diag)
	p.Legend.Add("perfectly calibrated", diag)
	xys := make(plotter.XYs, len(m.Calibration.Bins))
	var labels []string
	for i, b := range m.Calibration.Bins {
		xys[i] = plotter.XY{X: b.MeanScore, Y: b.FractionPositive}
		labels = append(labels, fmt.Sprint(b.Count))
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, fmt.Errorf("calibration plot: %w", err)
	}
	line.Width, line.Color = vg.Points(2), color.RGBA{0x08, 0x51, 0x9c, 0xff}
	points.GlyphStyle = draw.GlyphStyle{Color: line.Color, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	p.Add(line, points)
	p.Legend.Add("model (label: images in the bin)", line, points)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, fmt.Errorf("calibration plot: %w", err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(8)
		lb.TextStyle[i].YAlign = draw.YBottom
	}
	lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(3)}
	p.Add(lb)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return plotstyle.PNG(p, 5.5*vg.Inch, 5.5*vg.Inch)
}
