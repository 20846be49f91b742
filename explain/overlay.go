// Package explain draws what savedmodels' Explain computes: the Grad-CAM heatmap over
// the X-ray as the model saw it (Overlay), and that overlay as a figure with the class
// and probability in the title and a colorbar (FigurePNG), in a perceptual colormap.
//
//	ex, err := model.Explain(ctx, img)
//	png, err := explain.FigurePNG(img, ex[0], "pneumonia 0.93", explain.DefaultAlpha)
package explain

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"github.com/xraylab/xray/preprocess"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
)

// DefaultAlpha is the heatmap's default opacity over the X-ray.
const DefaultAlpha = 0.4

// ErrBadHeatmap is matched by the error for a heatmap that is not Size x Size values in
// [0, 1] (e.g. an Explanation that carries an error instead).
var ErrBadHeatmap = errors.New("bad heatmap")

// Colormap is the heatmap's colormap on [0, 1]: Moreland's black-body map, whose
// luminance rises linearly in CIELAB (perceptual, like inferno).
func Colormap() palette.ColorMap {
	cm := moreland.BlackBody()
	cm.SetMin(0)
	cm.SetMax(1)
	return cm
}

// Overlay returns img resized to the heatmap's side as preprocessing resizes it for the
// model, in gray, with the heatmap heat (size x size, row-major, in [0, 1]) blended over
// it in Colormap at opacity alpha (0: the X-ray alone, 1: the heatmap alone).
func Overlay(img image.Image, heat []float32, size int, alpha float64) (*image.RGBA, error) {
	if err := check(img, heat, size); err != nil {
		return nil, err
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("overlay opacity %v: give a value in [0, 1]", alpha)
	}
	pix, err := preprocess.Preprocessor{Size: size}.Pixels(img) // RGB, size x size
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	cm := Colormap()
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	for i, v := range heat {
		r, g, b := pix[3*i], pix[3*i+1], pix[3*i+2]
		gray := (299*float64(r) + 587*float64(g) + 114*float64(b)) / 1000
		c, err := cm.At(float64(v))
		if err != nil {
			return nil, fmt.Errorf("overlay: %w", err)
		}
		hc := color.RGBAModel.Convert(c).(color.RGBA)
		blend := func(h uint8) uint8 { return uint8((1-alpha)*gray + alpha*float64(h) + 0.5) }
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = blend(hc.R), blend(hc.G), blend(hc.B), 255
	}
	return out, nil
}

func check(img image.Image, heat []float32, size int) error {
	if img == nil {
		return errors.New("overlay: no image")
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("overlay: empty image (%d x %d pixels)", b.Dx(), b.Dy())
	}
	if size <= 0 || len(heat) != size*size {
		return fmt.Errorf("overlay: %w: %d values for side %d", ErrBadHeatmap, len(heat), size)
	}
	for _, v := range heat {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("overlay: %w: value %v outside [0, 1]", ErrBadHeatmap, v)
		}
	}
	return nil
}
