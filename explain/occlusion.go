package explain

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"

	"github.com/xraylab/xray/savedmodels"
)

// Occlusion sensitivity (Zeiler & Fergus 2014), the method of the source paper's dataset
// article: a patch of the model's input is replaced by the image's mean value, and the
// drop of the class's probability is credited to the pixels it covered.

// OcclusionOptions configure Occlusion.
type OcclusionOptions struct {
	Patch  int    // side of the square patch, in input pixels (default 32)
	Stride int    // step between patches (default 16)
	Class  string // class name to explain; "" for the predicted one
	Batch  int    // occluded images per model call (default savedmodels.DefaultMaxBatch)
}

// ErrBadPatch is matched by Occlusion's error for a patch or stride that does not fit the
// model's input.
var ErrBadPatch = errors.New("bad occlusion patch")

// OcclusionMap is one image's result: its prediction, the drop map Drop (Size x Size,
// row-major: the mean, over the patches covering a pixel, of p(class) unoccluded minus
// p(class) occluded; 0 where no patch reaches) and, in Explanation.Heatmap, its positive
// part scaled to [0, 1].
type OcclusionMap struct {
	savedmodels.Explanation
	Drop []float32
}

// Occlusion computes img's occlusion-sensitivity map through the model's serving_default
// signature (PredictPixels), batched.
func Occlusion(ctx context.Context, model *savedmodels.Model, img image.Image, opts OcclusionOptions) (*OcclusionMap, error) {
	pre := model.Preprocessor()
	s := pre.Size
	if opts.Patch == 0 {
		opts.Patch = 32
	}
	if opts.Stride == 0 {
		opts.Stride = 16
	}
	if opts.Batch <= 0 {
		opts.Batch = savedmodels.DefaultMaxBatch
	}
	if opts.Patch < 1 || opts.Patch > s || opts.Stride < 1 {
		return nil, fmt.Errorf("occlusion: %w: patch %d, stride %d for a %d x %d input: give 1 <= patch <= %d and stride >= 1", ErrBadPatch, opts.Patch, opts.Stride, s, s, s)
	}
	if img == nil {
		return nil, errors.New("occlusion: nil image")
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("occlusion: empty image (%d x %d pixels)", b.Dx(), b.Dy())
	}
	x, err := pre.Floats(img)
	if err != nil {
		return nil, fmt.Errorf("occlusion: %w", err)
	}
	base, err := model.PredictPixels(ctx, x)
	if err != nil {
		return nil, err
	}
	class := base[0].Class
	if opts.Class != "" {
		if class = slices.Index(model.Metadata().Classes, opts.Class); class < 0 {
			return nil, fmt.Errorf("occlusion class %q: %w", opts.Class, savedmodels.ErrUnknownClass)
		}
	}
	var fill float64
	for _, v := range x {
		fill += float64(v)
	}
	fill /= float64(len(x))
	sum, count, err := drops(ctx, model, x, opts, class, float64(base[0].Probabilities[class]), float32(fill))
	if err != nil {
		return nil, err
	}
	return occlusionMap(base[0], class, s, sum, count), nil
}

// drops predicts x occluded at every patch position, a batch at a time, and sums each
// pixel's probability drops (p0 minus p(class) occluded) and counts its patches.
func drops(ctx context.Context, model *savedmodels.Model, x []float32, opts OcclusionOptions, class int, p0 float64, fill float32) (sum []float64, count []int, err error) {
	s := model.Preprocessor().Size
	var pos [][2]int
	for y := 0; y+opts.Patch <= s; y += opts.Stride {
		for xx := 0; xx+opts.Patch <= s; xx += opts.Stride {
			pos = append(pos, [2]int{y, xx})
		}
	}
	sum, count = make([]float64, s*s), make([]int, s*s)
	for start := 0; start < len(pos); start += opts.Batch {
		chunk := pos[start:min(start+opts.Batch, len(pos))]
		batch := make([][]float32, len(chunk))
		for k, yx := range chunk {
			batch[k] = occlude(x, s, yx[0], yx[1], opts.Patch, fill)
		}
		preds, err := model.PredictPixels(ctx, batch...)
		if err != nil {
			return nil, nil, err
		}
		for k, yx := range chunk {
			if preds[k].Err != nil {
				return nil, nil, fmt.Errorf("occlusion: %w", preds[k].Err)
			}
			d := p0 - float64(preds[k].Probabilities[class])
			for i := yx[0]; i < yx[0]+opts.Patch; i++ {
				for j := yx[1]; j < yx[1]+opts.Patch; j++ {
					sum[i*s+j] += d
					count[i*s+j]++
				}
			}
		}
	}
	return sum, count, nil
}

// occlude copies x (s x s x 3) with the patch at (y, x0) set to fill.
func occlude(x []float32, s, y, x0, patch int, fill float32) []float32 {
	out := slices.Clone(x)
	for i := y; i < y+patch; i++ {
		row := out[3*(i*s+x0) : 3*(i*s+x0+patch)]
		for k := range row {
			row[k] = fill
		}
	}
	return out
}

// occlusionMap averages the drops and scales their positive part to [0, 1].
func occlusionMap(p savedmodels.Prediction, class, s int, sum []float64, count []int) *OcclusionMap {
	m := &OcclusionMap{Drop: make([]float32, s*s)}
	m.Prediction, m.Explained, m.Size, m.Heatmap = p, class, s, make([]float32, s*s)
	var peak float32
	for i := range sum {
		if count[i] > 0 {
			m.Drop[i] = float32(sum[i] / float64(count[i]))
		}
		peak = max(peak, m.Drop[i])
	}
	if peak > 0 {
		for i, d := range m.Drop {
			m.Heatmap[i] = max(d, 0) / peak
		}
	}
	return m
}
