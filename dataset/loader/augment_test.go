package loader

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xraylab/xray/dataset"
)

// marked is a size x size black image with one white pixel at (x, y).
func marked(size, x, y int) []uint8 {
	img := make([]uint8, size*size*3)
	for k := range 3 {
		img[(y*size+x)*3+k] = 255
	}
	return img
}

// brightest is the position of the largest value of channel 0 (the first when tied).
func brightest(img []uint8, size int) (x, y, v int) {
	for i := 0; i < size*size; i++ {
		if int(img[i*3]) > v {
			x, y, v = i%size, i/size, int(img[i*3])
		}
	}
	return x, y, v
}

// TestAugmentMovesMark checks the warp against positions worked out by hand on a 33 x 33
// image (centre (16, 16)) with a mark 4 px right of the centre.
func TestAugmentMovesMark(t *testing.T) {
	const size = 33
	src := marked(size, 20, 16)
	for _, c := range []struct {
		name   string
		p      AugmentParams
		x, y   int
		value  int
		detail string
	}{
		{"identity", AugmentParams{Scale: 1, Gain: 1}, 20, 16, 255, "unchanged"},
		{"rotate 90", AugmentParams{Angle: 90, Scale: 1, Gain: 1}, 16, 12, 255, "anticlockwise: right of centre goes above it"},
		{"rotate -90", AugmentParams{Angle: -90, Scale: 1, Gain: 1}, 16, 20, 255, "clockwise: below the centre"},
		{"rotate 180", AugmentParams{Angle: 180, Scale: 1, Gain: 1}, 12, 16, 255, "left of centre"},
		{"shift", AugmentParams{Scale: 1, DX: 3, DY: -2, Gain: 1}, 23, 14, 255, "3 right, 2 up"},
		{"zoom 1.5", AugmentParams{Scale: 1.5, Gain: 1}, 22, 16, 255, "4 px from the centre become 6"},
		{"rotate, zoom, shift", AugmentParams{Angle: 90, Scale: 1.5, DX: -1, DY: 2, Gain: 1}, 15, 12, 255, "(16, 16-6) + (-1, 2)"},
		{"brightness", AugmentParams{Scale: 1, Gain: 1, Offset: -55}, 20, 16, 200, "255 - 55"},
	} {
		dst := make([]uint8, len(src))
		c.p.Apply(dst, src, size)
		x, y, v := brightest(dst, size)
		if x != c.x || y != c.y || v != c.value {
			t.Errorf("%s (%s): brightest pixel %d at (%d, %d), want %d at (%d, %d)", c.name, c.detail, v, x, y, c.value, c.x, c.y)
		}
	}

	// Half-pixel zoom spreads the mark bilinearly: at Scale 1.5 the output x = 21 samples the
	// source at 16 + 5/1.5 = 19.33, a third of the way to the mark: 255/3 = 85.
	dst := make([]uint8, len(src))
	AugmentParams{Scale: 1.5, Gain: 1}.Apply(dst, src, size)
	if got := dst[(16*size+21)*3]; got != 85 {
		t.Errorf("zoom 1.5: pixel (21, 16) = %d, want 85", got)
	}
}

// TestAugmentDrawnParams: the drawn parameters move the mark where the forward formula in
// AugmentParams' doc says, for many draws.
func TestAugmentDrawnParams(t *testing.T) {
	const size = 65
	src := marked(size, 40, 25)
	a := Augment{Rotation: 30, Translate: 0.1, Zoom: 0.2}
	c := float64(size-1) / 2
	for image := range 20 {
		p := a.Draw(7, 3, image, size)
		if math.Abs(p.Angle) > 30 || math.Abs(p.Scale-1) > 0.2 || math.Abs(p.DX) > 6.5 || math.Abs(p.DY) > 6.5 || p.Gain != 1 || p.Offset != 0 {
			t.Fatalf("image %d: drawn %+v outside the ranges %+v", image, p, a)
		}
		if q := a.Draw(7, 3, image, size); q != p {
			t.Fatalf("image %d: two draws differ: %+v, %+v", image, p, q)
		}
		th := p.Angle * math.Pi / 180
		ux, uy := 40-c, 25-c
		wantX := c + p.Scale*(math.Cos(th)*ux+math.Sin(th)*uy) + p.DX
		wantY := c + p.Scale*(-math.Sin(th)*ux+math.Cos(th)*uy) + p.DY
		dst := make([]uint8, len(src))
		p.Apply(dst, src, size)
		x, y, v := brightest(dst, size)
		if math.Abs(float64(x)-wantX) > 1 || math.Abs(float64(y)-wantY) > 1 || v == 0 {
			t.Errorf("image %d, %+v: mark at (%d, %d), want near (%.2f, %.2f)", image, p, x, y, wantX, wantY)
		}
	}
	if a.Draw(7, 3, 0, size) == a.Draw(7, 4, 0, size) || a.Draw(7, 3, 0, size) == a.Draw(8, 3, 0, size) {
		t.Error("draws do not depend on the epoch or the seed")
	}
}

// TestAugmentIntensity: contrast scales deviations from the image mean, brightness adds;
// values are rounded and clipped.
func TestAugmentIntensity(t *testing.T) {
	const size = 4
	src := make([]uint8, size*size*3)
	for i := range src {
		src[i] = 50
		if i >= len(src)/2 {
			src[i] = 150 // mean 100
		}
	}
	for _, c := range []struct {
		gain, offset float64
		lo, hi       uint8
	}{
		{1.5, 10, 35, 185},    // 100 -/+ 75, + 10
		{0.8, -20.4, 40, 120}, // 100 -/+ 40 - 20.4 = 39.6, 119.6
		{3, 0, 0, 250},        // -50 (clipped) and 250
		{1, 200, 250, 255},    // 250 and 350: clipped above
	} {
		dst := make([]uint8, len(src))
		AugmentParams{Scale: 1, Gain: c.gain, Offset: c.offset}.Apply(dst, src, size)
		if dst[0] != c.lo || dst[len(dst)-1] != c.hi {
			t.Errorf("gain %v offset %v: %d and %d, want %d and %d", c.gain, c.offset, dst[0], dst[len(dst)-1], c.lo, c.hi)
		}
	}
}

func TestAugmentValidate(t *testing.T) {
	if err := DefaultAugment().Validate(); err != nil {
		t.Fatal(err)
	}
	if (Augment{}).On() || !DefaultAugment().On() {
		t.Error("On: zero must be off, the default on")
	}
	for _, bad := range []Augment{{Rotation: -1}, {Rotation: 181}, {Translate: 1.5}, {Zoom: 1}, {Brightness: math.NaN()}, {Contrast: 2}} {
		var re *AugmentRangeError
		if err := bad.Validate(); !errors.As(err, &re) {
			t.Errorf("%+v: %v, want an *AugmentRangeError", bad, err)
		}
	}
}

// TestLoaderAugment: off, every batch is exactly the preprocessed file (today's batches);
// on, the same seed gives the same batches, each image being Draw(...).Apply of its pixels.
func TestLoaderAugment(t *testing.T) {
	m := sampleManifest(t)
	entries := m.Subset(dataset.Train)
	cfg := smallConfig()
	off, err := New(m.Root, entries, cfg)
	if err != nil {
		t.Fatal(err)
	}
	size := cfg.Len()
	for _, b := range collect(t, off, 2) {
		for s := range b.Index {
			want, err := cfg.File(filepath.Join(m.Root, b.Paths[s]))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.Images[s*size:(s+1)*size], want) {
				t.Fatalf("augmentation off: %s differs from Preprocessor.File", b.Paths[s])
			}
		}
	}

	on := cfg
	on.Augment = DefaultAugment()
	a1, err := New(m.Root, entries, on)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := New(m.Root, entries, on)
	e2, again, e3 := collect(t, a1, 2), collect(t, a2, 2), collect(t, a1, 3)
	for k := range e2 {
		if !slices.Equal(e2[k].Images, again[k].Images) {
			t.Fatalf("batch %d differs between two loaders with the same seed", k)
		}
	}
	b := e2[0]
	raw, err := os.ReadFile(filepath.Join(m.Root, b.Paths[0]))
	if err != nil {
		t.Fatal(err)
	}
	pix, err := cfg.EncodedPixels(raw)
	if err != nil {
		t.Fatal(err)
	}
	aug := make([]uint8, len(pix))
	on.Augment.Draw(on.Seed, 2, b.Index[0], on.Size).Apply(aug, pix, on.Size)
	want, plain := make([]float32, size), make([]float32, size)
	on.Scaling.Apply(aug, want)
	on.Scaling.Apply(pix, plain)
	if !slices.Equal(b.Images[:size], want) {
		t.Error("loader's augmented image is not Draw(seed, epoch, image).Apply of its pixels")
	}
	if slices.Equal(want, plain) {
		t.Error("augmentation on left the image unchanged")
	}
	if e3[0].Index[0] == b.Index[0] && slices.Equal(e3[0].Images[:size], b.Images[:size]) {
		t.Error("augmentation does not vary with the epoch")
	}
}
