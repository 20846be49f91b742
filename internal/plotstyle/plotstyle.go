// Package plotstyle is what the evaluation's figures share (report, comparison and shift
// report plots, drawn by evaluator, evaluator/compare and evaluator/shift): the resolution,
// the font sizes, rendering a finished plot to PNG, and turning gonum/plot's panics into
// errors. It draws no figure itself.
package plotstyle

import (
	"bytes"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DPI is the figures' resolution.
const DPI = 150

// Fonts sets the title, axis label and tick sizes of p.
func Fonts(p *plot.Plot) {
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(12)
		a.Tick.Label.Font.Size = vg.Points(11)
	}
}

// Recover turns a panic inside gonum/plot into an error naming the figure; call it
// deferred in a function that returns err.
func Recover(name string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("draw %s plot: %v", name, r)
	}
}

// PNG renders p as a PNG of w x h at DPI.
func PNG(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
