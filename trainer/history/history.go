package history

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/xraylab/xray/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// EpochStats is one row of history.csv: Keras's epoch averages plus wall time.
type EpochStats struct {
	Epoch       int     `json:"epoch"`
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	ValLoss     float64 `json:"val_loss"`
	ValAccuracy float64 `json:"val_accuracy"`
	ValAUC      float64 `json:"val_auc"` // ROC AUC of p(pneumonia) on validation; NaN when undefined
	LR          float64 `json:"lr"`      // learning rate of the epoch's last update
	Seconds     float64 `json:"seconds"`
}

func f64(x float64) string { return strconv.FormatFloat(x, 'g', 8, 64) }

// WriteCSV writes history.csv (epoch, loss, accuracy, val_loss, val_accuracy,
// val_auc, lr, seconds).
func WriteCSV(path string, h []EpochStats) error {
	var b bytes.Buffer
	b.WriteString("epoch,loss,accuracy,val_loss,val_accuracy,val_auc,lr,seconds\n")
	for _, e := range h {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%s,%s,%.3f\n", e.Epoch, f64(e.Loss), f64(e.Accuracy), f64(e.ValLoss), f64(e.ValAccuracy),
			f64(e.ValAUC), f64(e.LR), e.Seconds)
	}
	return atomicfile.WriteFile(path, b.Bytes())
}

// WriteCurves draws accuracy and loss, train vs validation, side by side (the paper's
// Figures 6-8) into a PNG.
func WriteCurves(path, title string, h []EpochStats) error {
	panel := func(name string, train, val func(EpochStats) float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title + " — " + name
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = name
		// A diverged epoch (NaN or infinite loss) is left out: plotter rejects it, and
		// history.csv still records it.
		var tr, va plotter.XYs
		for _, e := range h {
			if y := train(e); !math.IsNaN(y) && !math.IsInf(y, 0) {
				tr = append(tr, plotter.XY{X: float64(e.Epoch), Y: y})
			}
			if y := val(e); !math.IsNaN(y) && !math.IsInf(y, 0) {
				va = append(va, plotter.XY{X: float64(e.Epoch), Y: y})
			}
		}
		lt, pt, err := plotter.NewLinePoints(tr)
		if err != nil {
			return nil, err
		}
		lv, pv, err := plotter.NewLinePoints(va)
		if err != nil {
			return nil, err
		}
		blue, orange := color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}
		lt.Color, pt.Color = blue, blue
		lv.Color, pv.Color = orange, orange
		pt.Radius, pv.Radius = vg.Points(2), vg.Points(2)
		p.Add(plotter.NewGrid(), lt, pt, lv, pv)
		p.Legend.Add("train", lt, pt)
		p.Legend.Add("validation", lv, pv)
		p.Legend.Top = name == "loss"
		return p, nil
	}
	acc, err := panel("accuracy", func(e EpochStats) float64 { return e.Accuracy }, func(e EpochStats) float64 { return e.ValAccuracy })
	if err != nil {
		return err
	}
	loss, err := panel("loss", func(e EpochStats) float64 { return e.Loss }, func(e EpochStats) float64 { return e.ValLoss })
	if err != nil {
		return err
	}
	const w, hgt = 12 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, hgt)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{acc, loss}}, tiles, dc)
	acc.Draw(canvases[0][0])
	loss.Draw(canvases[0][1])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}
