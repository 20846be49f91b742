package evaluator

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CalibrationBins is the number of equal-width bins of the expected calibration error
// and the reliability diagram.
const CalibrationBins = 15

// CalibrationBin is one bin of p(pneumonia): the images whose score lies in
// (Lower, Upper] (the first bin includes 0), their mean score and the share that truly
// has pneumonia. A calibrated model has MeanScore close to FractionPositive.
type CalibrationBin struct {
	Lower            float64 `json:"lower"`
	Upper            float64 `json:"upper"`
	Count            int     `json:"count"`
	MeanScore        float64 `json:"mean_score"`
	FractionPositive float64 `json:"fraction_positive"`
}

// Calibration says how far p(pneumonia) is from the observed frequency of pneumonia.
type Calibration struct {
	// Brier is sklearn's brier_score_loss: the mean of (p_pneumonia - label)^2.
	Brier float64 `json:"brier"`
	// ECE is the expected calibration error over CalibrationBins equal-width bins of
	// p(pneumonia): sum over bins of count/N * |mean score - fraction positive|.
	ECE float64 `json:"ece"`
	// Bins are the non-empty bins, in increasing score, as
	// sklearn.calibration.calibration_curve(strategy="uniform") bins them.
	Bins []CalibrationBin `json:"bins"`
}

// calibrate computes the Brier score, the ECE and the reliability bins. Labels and
// scores are validated by the caller and not empty.
func calibrate(labels []int, scores []float64) Calibration {
	var c Calibration
	var count [CalibrationBins]int
	var sumScore, sumPos [CalibrationBins]float64
	for i, s := range scores {
		d := s - float64(labels[i])
		c.Brier += d * d
		b := calibrationBin(s)
		count[b]++
		sumScore[b] += s
		sumPos[b] += float64(labels[i])
	}
	n := float64(len(scores))
	c.Brier /= n
	for b := range count {
		if count[b] == 0 {
			continue
		}
		k := float64(count[b])
		bin := CalibrationBin{Lower: binEdge(b), Upper: binEdge(b + 1), Count: count[b],
			MeanScore: sumScore[b] / k, FractionPositive: sumPos[b] / k}
		c.ECE += k / n * math.Abs(bin.MeanScore-bin.FractionPositive)
		c.Bins = append(c.Bins, bin)
	}
	return c
}

// binEdge is numpy's linspace(0, 1, CalibrationBins+1)[k].
func binEdge(k int) float64 {
	if k == CalibrationBins {
		return 1
	}
	return float64(k) * (1.0 / CalibrationBins)
}

// calibrationBin is the bin of score s: the number of inner edges below it, as
// np.searchsorted(edges[1:-1], s) (side "left": a score on an edge goes to the lower bin).
func calibrationBin(s float64) int {
	b := 0
	for b < CalibrationBins-1 && binEdge(b+1) < s {
		b++
	}
	return b
}

// CalibrationPNG draws the reliability diagram: fraction of pneumonia against mean
// p(pneumonia) per bin, the diagonal of perfect calibration, and the bin counts.
func CalibrationPNG(m Metrics) (png []byte, err error) {
	defer recoverPlot("calibration", &err)
	p := plot.New()
	name := "Reliability"
	if m.Model != "" {
		name += ": " + m.Model
	}
	p.Title.Text = fmt.Sprintf("%s (ECE %.4f, Brier %.4f, %d bins)", name, m.Calibration.ECE, m.Calibration.Brier, CalibrationBins)
	p.X.Label.Text = "Mean predicted p(pneumonia)"
	p.Y.Label.Text = "Fraction with pneumonia"
	styleFonts(p)
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
	return renderPNG(p, 5.5*vg.Inch, 5.5*vg.Inch)
}
