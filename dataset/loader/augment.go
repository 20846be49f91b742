package loader

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Augment is training-time augmentation of the cached uint8 pixels: an affine warp about
// the image centre (rotation, zoom, translation; bilinear sampling, edge pixels repeated
// outside the image) followed by contrast and brightness, each drawn uniformly from its
// range, deterministically from (seed, epoch, image). The zero value is off: batches are
// then exactly the preprocessed images. No left-right flip: chest X-rays have a side.
type Augment struct {
	Rotation   float64 `json:"rotation"`   // degrees: rotate by up to ±Rotation
	Translate  float64 `json:"translate"`  // fraction of the side: shift each axis by up to ±Translate
	Zoom       float64 `json:"zoom"`       // fraction: scale by a factor in [1-Zoom, 1+Zoom]
	Brightness float64 `json:"brightness"` // fraction of 0..255: add up to ±Brightness*255
	Contrast   float64 `json:"contrast"`   // fraction: scale deviations from the image mean by [1-Contrast, 1+Contrast]
}

// DefaultAugment is the ranges `--augment` uses unless told otherwise: ±10°, ±10 %
// shift, ±10 % zoom, ±20 % brightness, ±20 % contrast.
func DefaultAugment() Augment {
	return Augment{Rotation: 10, Translate: 0.1, Zoom: 0.1, Brightness: 0.2, Contrast: 0.2}
}

// On reports whether any range is non-zero.
func (a Augment) On() bool {
	return a.Rotation != 0 || a.Translate != 0 || a.Zoom != 0 || a.Brightness != 0 || a.Contrast != 0
}

// AugmentRangeError is an augmentation range outside what makes an image. Field is the
// Augment field's name in lower case ("rotation", "zoom", ...).
type AugmentRangeError struct {
	Field    string
	Value    float64
	Min, Max float64 // allowed: Min <= Value <= Max (Max excluded for zoom)
	Unit     string
}

func (e *AugmentRangeError) Error() string {
	return fmt.Sprintf("augmentation %s %v out of range: use %v to %v%s", e.Field, e.Value, e.Min, e.Max, e.Unit)
}

// Validate returns an *AugmentRangeError for the first range out of bounds.
func (a Augment) Validate() error {
	for _, r := range []struct {
		name     string
		v, hi    float64
		unit     string
		openHigh bool
	}{
		{"rotation", a.Rotation, 180, " degrees", false},
		{"translate", a.Translate, 1, " (fraction of the side)", false},
		{"zoom", a.Zoom, 1, " (fraction, below 1)", true},
		{"brightness", a.Brightness, 1, " (fraction of the pixel range)", false},
		{"contrast", a.Contrast, 1, " (fraction)", false},
	} {
		if !(r.v >= 0 && r.v <= r.hi) || (r.openHigh && r.v == r.hi) {
			return &AugmentRangeError{Field: r.name, Value: r.v, Min: 0, Max: r.hi, Unit: r.unit}
		}
	}
	return nil
}

// AugmentParams is one image's drawn augmentation. Coordinates are pixels, x to the right
// and y down; the centre is ((size-1)/2, (size-1)/2). A point p of the source lands at
// centre + Scale * R(Angle) * (p - centre) + (DX, DY), where R turns anticlockwise as seen
// on screen. Each output value is then Gain * (v - mean) + mean + Offset, rounded and
// clipped to 0..255, with mean the source image's mean value.
type AugmentParams struct {
	Angle  float64 // degrees, anticlockwise on screen
	Scale  float64 // > 1 enlarges the content (zoom in)
	DX, DY float64 // pixels
	Gain   float64 // contrast factor
	Offset float64 // brightness, in 0..255 units
}

// Draw returns the parameters of image (its position in the loader's entries) in epoch:
// a function of (seed, epoch, image) and the ranges only.
func (a Augment) Draw(seed int64, epoch, image, size int) AugmentParams {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)<<32^uint64(image)^0xA5A5A5A5))
	u := func() float64 { return 2*r.Float64() - 1 } // uniform in [-1, 1)
	return AugmentParams{
		Angle:  a.Rotation * u(),
		Scale:  1 + a.Zoom*u(),
		DX:     a.Translate * float64(size) * u(),
		DY:     a.Translate * float64(size) * u(),
		Gain:   1 + a.Contrast*u(),
		Offset: 255 * a.Brightness * u(),
	}
}

// Apply writes the augmented src (size x size x 3, HWC uint8) into dst (same length).
// Coordinates, bilinear weights and the intensity map run in fixed point (16 fractional
// bits): within 1/256 of a pixel's weight of the exact float result, and several times
// faster, which keeps --augment's cost off the training step.
func (p AugmentParams) Apply(dst, src []uint8, size int) {
	const ch, one = 3, 1 << 16
	var sum uint64
	for _, v := range src {
		sum += uint64(v)
	}
	mean := float64(sum) / float64(len(src))
	// out = gain*v + bias, with v carrying 16 fractional bits and gain 16 more: >> 32.
	gain := int64(math.Round(p.Gain * one))
	bias := int64(math.Round(((1-p.Gain)*mean+p.Offset)*(1<<32))) + 1<<31 // + 1/2 rounds
	// Inverse map: source = centre + R(-Angle) * (out - centre - d) / Scale; along a row
	// the source point moves by (cos, sin) / Scale per output pixel.
	c := float64(size-1) / 2
	rad := p.Angle * math.Pi / 180
	cs, sn := math.Cos(rad)/p.Scale, math.Sin(rad)/p.Scale
	dx, dy := int64(math.Round(cs*one)), int64(math.Round(sn*one))
	last := int64(size-1) << 16
	for y := 0; y < size; y++ {
		vx, vy := -c-p.DX, float64(y)-c-p.DY
		sx, sy := int64(math.Round((c+cs*vx-sn*vy)*one)), int64(math.Round((c+sn*vx+cs*vy)*one))
		row := dst[y*size*ch : (y+1)*size*ch]
		for x := 0; x < size; x++ {
			// Clamping the sample point repeats the edge pixels outside the image.
			fx, fy := min(max(sx, 0), last), min(max(sy, 0), last)
			x0, y0 := int(fx>>16), int(fy>>16)
			wx, wy := int64(fx>>8)&0xFF, int64(fy>>8)&0xFF
			x1, y1 := min(x0+1, size-1), min(y0+1, size-1)
			i00, i01 := (y0*size+x0)*ch, (y0*size+x1)*ch
			i10, i11 := (y1*size+x0)*ch, (y1*size+x1)*ch
			for k := range ch {
				top := int64(src[i00+k])*(256-wx) + int64(src[i01+k])*wx
				bot := int64(src[i10+k])*(256-wx) + int64(src[i11+k])*wx
				v := (gain*(top*(256-wy)+bot*wy) + bias) >> 32
				row[x*ch+k] = uint8(min(max(v, 0), 255))
			}
			sx += dx
			sy += dy
		}
	}
}
