package explain

import (
	"errors"
	"image"
	"image/color"
	"testing"

	"github.com/xraylab/xray/savedmodels"
)

// TestOverlayBlends checks pixels by hand: a uniform gray X-ray under heat 0 (black in the
// black-body map) and heat 1 (white) at opacity 0.25 gives 0.75*gray + 0.25*{0, 255}.
func TestOverlayBlends(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 10, 10))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	heat := []float32{0, 1, 1, 0}
	ov, err := Overlay(img, heat, 2, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{150, 214, 214, 150} // 0.75*200 + 0.25*0 = 150; 0.75*200 + 0.25*255 = 213.75
	for i, w := range want {
		c := ov.RGBAAt(i%2, i/2)
		if c != (color.RGBA{w, w, w, 255}) {
			t.Errorf("pixel %d: %v, want gray %d", i, c, w)
		}
	}
}

// TestOverlayRejects: heatmaps of the wrong size or outside [0, 1], opacities outside
// [0, 1] and an explanation that failed are errors, not panics.
func TestOverlayRejects(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	if _, err := Overlay(img, []float32{0, 1, 1}, 2, 0.4); !errors.Is(err, ErrBadHeatmap) {
		t.Errorf("3 values for 2 x 2: %v", err)
	}
	if _, err := Overlay(img, []float32{0, 1, 2, 0}, 2, 0.4); !errors.Is(err, ErrBadHeatmap) {
		t.Errorf("value 2: %v", err)
	}
	if _, err := Overlay(img, []float32{0, 1, 1, 0}, 2, 1.5); err == nil {
		t.Error("opacity 1.5 accepted")
	}
	if _, err := Overlay(nil, []float32{0, 1, 1, 0}, 2, 0.4); err == nil {
		t.Error("nil image accepted")
	}
	e := savedmodels.Explanation{Prediction: savedmodels.Prediction{Err: errors.New("unreadable")}}
	if _, err := FigurePNG(img, e, "", 0.4); err == nil {
		t.Error("figure of a failed explanation")
	}
}
