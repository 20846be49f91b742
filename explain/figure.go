package explain

import (
	"bytes"
	"fmt"
	"image"

	"github.com/xraylab/xray/savedmodels"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

const figureDPI = 100

// Title is the figure title for e by method (e.g. "Grad-CAM"): the class explained and
// its probability, and the predicted class when that differs.
func Title(method string, e savedmodels.Explanation, classes []string) string {
	name := func(c int) string {
		if c >= 0 && c < len(classes) {
			return classes[c]
		}
		return fmt.Sprint(c)
	}
	t := fmt.Sprintf("%s: %s %.3f", method, name(e.Explained), prob(e, e.Explained))
	if e.Explained != e.Class {
		t += fmt.Sprintf(" (predicted %s %.3f)", name(e.Class), prob(e, e.Class))
	}
	return t
}

func prob(e savedmodels.Explanation, c int) float32 {
	if c >= 0 && c < len(e.Probabilities) {
		return e.Probabilities[c]
	}
	return 0
}

// FigurePNG draws Overlay(img, e's heatmap, alpha) with title above it and a vertical
// colorbar (heatmap 0 to 1) beside it, as a PNG.
func FigurePNG(img image.Image, e savedmodels.Explanation, title string, alpha float64) (png []byte, err error) {
	if e.Err != nil {
		return nil, fmt.Errorf("figure: the image has no explanation: %w", e.Err)
	}
	ov, err := Overlay(img, e.Heatmap, e.Size, alpha)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil { // gonum/plot panics on some misuse
			png, err = nil, fmt.Errorf("figure: %v", r)
		}
	}()
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(12)
	s := float64(e.Size)
	p.Add(plotter.NewImage(ov, 0, 0, s, s))
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, s, 0, s
	p.HideAxes()

	bar := plot.New()
	bar.Add(&plotter.ColorBar{ColorMap: Colormap(), Vertical: true})
	bar.HideX()
	bar.Y.Padding = 0
	bar.Title.Text = " " // aligns the bar with the image below the title
	bar.Title.TextStyle.Font.Size = vg.Points(12)

	const side, barW = 5 * vg.Inch, 0.9 * vg.Inch
	c := vgimg.NewWith(vgimg.UseWH(side+barW, side+0.4*vg.Inch), vgimg.UseDPI(figureDPI))
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -barW, 0, 0))
	bar.Draw(draw.Crop(dc, side+0.15*vg.Inch, 0, 0, 0))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figure: %w", err)
	}
	return buf.Bytes(), nil
}
