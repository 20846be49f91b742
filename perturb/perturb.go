package perturb

import (
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/draw"
	"math"
	"strconv"
	"strings"
)

// Kinds of perturbation, in report order.
const (
	Contrast   = "contrast"
	Brightness = "brightness"
	Gamma      = "gamma"
	Blur       = "blur"
	Noise      = "noise"
	JPEG       = "jpeg"
	Resolution = "resolution"
)

// Levels are each kind's parameters by severity 1, 2, 3 (see the package doc for their
// meaning): milder than ImageNet-C's extremes, as one hospital's scanner differs from
// another's, not from a broken one.
var Levels = map[string][]float64{
	Contrast:   {0.7, 0.5, 0.3},
	Brightness: {0.1, 0.2, 0.3},
	Gamma:      {1.3, 1.6, 2.0},
	Blur:       {1, 2, 4},
	Noise:      {0.02, 0.05, 0.1},
	JPEG:       {30, 15, 5},
	Resolution: {0.5, 0.25, 0.125},
}

// Kinds lists the kinds in report order.
var Kinds = []string{Contrast, Brightness, Gamma, Blur, Noise, JPEG, Resolution}

// Perturbation is one kind at one severity.
type Perturbation struct {
	Kind  string  `json:"perturbation"`
	Level int     `json:"level"` // severity, 1 (mildest) to len(Levels[Kind])
	Param float64 `json:"param"` // Levels[Kind][Level-1]
}

// String is "kind-level", e.g. "blur-2".
func (p Perturbation) String() string { return p.Kind + "-" + strconv.Itoa(p.Level) }

// ErrUnknown is matched by Lookup's and Parse's errors for a kind or level that does not exist.
var ErrUnknown = errors.New("unknown perturbation")

// Lookup returns kind at severity level.
func Lookup(kind string, level int) (Perturbation, error) {
	ps, ok := Levels[kind]
	if !ok {
		return Perturbation{}, fmt.Errorf("%w %q: use %s", ErrUnknown, kind, strings.Join(Kinds, ", "))
	}
	if level < 1 || level > len(ps) {
		return Perturbation{}, fmt.Errorf("%w: %s has levels 1 to %d, not %d", ErrUnknown, kind, len(ps), level)
	}
	return Perturbation{kind, level, ps[level-1]}, nil
}

// Standard is every kind at every level, in report order.
func Standard() []Perturbation {
	var out []Perturbation
	for _, k := range Kinds {
		for l := range Levels[k] {
			p, _ := Lookup(k, l+1)
			out = append(out, p)
		}
	}
	return out
}

// Parse reads a comma-separated list of kinds (every level) or kind-level names, e.g.
// "blur,jpeg-3"; "" or "all" is Standard.
func Parse(list string) ([]Perturbation, error) {
	if list == "" || list == "all" {
		return Standard(), nil
	}
	var out []Perturbation
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		kind, lv, hasLevel := strings.Cut(f, "-")
		if !hasLevel {
			for l := range Levels[kind] {
				p, _ := Lookup(kind, l+1)
				out = append(out, p)
			}
			if _, ok := Levels[kind]; !ok {
				return nil, fmt.Errorf("%w %q: use %s, optionally -LEVEL (1 to 3), or all", ErrUnknown, f, strings.Join(Kinds, ", "))
			}
			continue
		}
		n, err := strconv.Atoi(lv)
		if err != nil {
			return nil, fmt.Errorf("%w %q: the level after - is a number", ErrUnknown, f)
		}
		p, err := Lookup(kind, n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Seed is the noise seed of an image named name (use its path relative to the data
// root, so that the noise does not depend on where the data lies): FNV-1a, 64 bits.
func Seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// planes is an 8-bit image as HWC samples.
type planes struct {
	w, h, c int
	pix     []uint8
}

// toPlanes copies img's samples: one channel for *image.Gray, else RGB.
func toPlanes(img image.Image) planes {
	b := img.Bounds()
	if g, ok := img.(*image.Gray); ok {
		p := planes{b.Dx(), b.Dy(), 1, make([]uint8, b.Dx()*b.Dy())}
		for y := 0; y < p.h; y++ {
			copy(p.pix[y*p.w:(y+1)*p.w], g.Pix[(y+b.Min.Y-g.Rect.Min.Y)*g.Stride+(b.Min.X-g.Rect.Min.X):])
		}
		return p
	}
	n, ok := img.(*image.NRGBA)
	if !ok || n.Rect.Min != (image.Point{}) {
		n = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(n, n.Rect, img, b.Min, draw.Src)
	}
	p := planes{b.Dx(), b.Dy(), 3, make([]uint8, 0, b.Dx()*b.Dy()*3)}
	for y := 0; y < p.h; y++ {
		row := n.Pix[y*n.Stride : y*n.Stride+4*p.w]
		for x := 0; x < p.w; x++ {
			p.pix = append(p.pix, row[4*x:4*x+3]...)
		}
	}
	return p
}

// image returns p as *image.Gray or an opaque *image.NRGBA.
func (p planes) image() image.Image {
	if p.c == 1 {
		return &image.Gray{Pix: p.pix, Stride: p.w, Rect: image.Rect(0, 0, p.w, p.h)}
	}
	n := image.NewNRGBA(image.Rect(0, 0, p.w, p.h))
	for i := 0; i < p.w*p.h; i++ {
		copy(n.Pix[4*i:4*i+3], p.pix[3*i:3*i+3])
		n.Pix[4*i+3] = 255
	}
	return n
}

// Apply returns img under p; seed matters for Noise only (see Seed). img is not changed.
func Apply(img image.Image, p Perturbation, seed uint64) (image.Image, error) {
	if img == nil {
		return nil, errors.New("perturb: nil image")
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("perturb: empty image (%d x %d pixels)", b.Dx(), b.Dy())
	}
	if want, err := Lookup(p.Kind, p.Level); err != nil {
		return nil, fmt.Errorf("perturb: %w", err)
	} else if p.Param != want.Param {
		return nil, fmt.Errorf("perturb: %w: %s has parameter %v, not %v", ErrUnknown, p, want.Param, p.Param)
	}
	in := toPlanes(img)
	var out planes
	var err error
	switch p.Kind {
	case Contrast:
		var sum float64
		for _, v := range in.pix {
			sum += float64(v) // whole numbers: exact in any order, as numpy's mean
		}
		mean := sum / float64(len(in.pix))
		out = in.pointwise(func(v float64, _ int) float64 { return (v-mean)*p.Param + mean })
	case Brightness:
		out = in.pointwise(func(v float64, _ int) float64 { return v + 255*p.Param })
	case Gamma:
		out = in.pointwise(func(v float64, _ int) float64 { return 255 * math.Pow(v/255, p.Param) })
	case Noise:
		z := normals(seed, in.w*in.h)
		out = in.pointwise(func(v float64, i int) float64 { return v + 255*p.Param*z[i/in.c] })
	case Blur:
		out = in.blur(p.Param * float64(min(in.w, in.h)) / 224)
	case JPEG:
		out, err = in.jpeg(int(p.Param))
	case Resolution:
		w, h := max(1, int(float64(in.w)*p.Param+0.5)), max(1, int(float64(in.h)*p.Param+0.5))
		out = in.resize(w, h).resize(in.w, in.h)
	}
	if err != nil {
		return nil, fmt.Errorf("perturb %s: %w", p, err)
	}
	return out.image(), nil
}

// pointwise maps every sample (with its HWC index) through f, rounding half to even and
// clipping to 0..255.
func (p planes) pointwise(f func(v float64, i int) float64) planes {
	out := planes{p.w, p.h, p.c, make([]uint8, len(p.pix))}
	for i, v := range p.pix {
		out.pix[i] = clip8(f(float64(v), i))
	}
	return out
}

// clip8 is numpy's clip(rint(v), 0, 255).
func clip8(v float64) uint8 {
	v = math.RoundToEven(v)
	if !(v > 0) { // NaN too
		return 0
	}
	return uint8(min(v, 255))
}
