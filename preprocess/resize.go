package preprocess

import "math"

// The resize is disintegration/imaging's Resize(img, S, S, imaging.Linear), specialised
// to opaque 1- and 3-channel pixels: the same weights (linearWeights is imaging's
// precomputeWeights with the Linear kernel) and the same float64 operations in the same
// order, so the result is bit-identical (TestResizeMatchesImaging checks every test
// image), while a grayscale X-ray is filtered once instead of four times and never
// expanded to RGBA. imaging.Resize costs about as much as decoding the JPEG; this is 3-4
// times cheaper on grayscale.

// tap is one source pixel's weight in an output pixel.
type tap struct {
	index  int
	weight float64
}

// linearWeights is imaging's precomputeWeights(dst, src, imaging.Linear).
func linearWeights(dstSize, srcSize int) [][]tap {
	du := float64(srcSize) / float64(dstSize)
	scale := du
	if scale < 1.0 {
		scale = 1.0
	}
	ru := math.Ceil(scale * 1.0) // Linear's support is 1
	out := make([][]tap, dstSize)
	tmp := make([]tap, 0, dstSize*int(ru+2)*2)
	for v := 0; v < dstSize; v++ {
		fu := (float64(v)+0.5)*du - 0.5
		begin := max(int(math.Ceil(fu-ru)), 0)
		end := min(int(math.Floor(fu+ru)), srcSize-1)
		var sum float64
		for u := begin; u <= end; u++ {
			w := triangle((float64(u) - fu) / scale)
			if w != 0 {
				sum += w
				tmp = append(tmp, tap{index: u, weight: w})
			}
		}
		if sum != 0 {
			for i := range tmp {
				tmp[i].weight /= sum
			}
		}
		out[v] = tmp
		tmp = tmp[len(tmp):]
	}
	return out
}

func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1.0 {
		return 1.0 - x
	}
	return 0
}

// clampRound is imaging's clamp: round half up, saturate to 0..255.
func clampRound(x float64) uint8 {
	v := int64(x + 0.5)
	if v > 255 {
		return 255
	}
	if v > 0 {
		return uint8(v)
	}
	return 0
}

// plane is 8-bit pixels: bpp bytes per pixel, of which the first ch are resized.
type plane struct {
	pix          []uint8
	stride, w, h int
	bpp, ch      int
}

// resize returns p resized to dw x dh as packed ch-channel pixels, as imaging does it:
// the width pass (rounded to uint8) then the height pass, skipping a pass whose size does
// not change.
func (p plane) resize(dw, dh int) []uint8 {
	if p.w != dw {
		p = p.resizeWidth(dw)
	}
	if p.h != dh {
		p = p.resizeHeight(dh)
	}
	if p.bpp == p.ch && p.stride == p.w*p.ch {
		return p.pix[:p.w*p.h*p.ch]
	}
	out := make([]uint8, p.w*p.h*p.ch)
	for y := 0; y < p.h; y++ {
		for x := 0; x < p.w; x++ {
			copy(out[(y*p.w+x)*p.ch:], p.pix[y*p.stride+x*p.bpp:y*p.stride+x*p.bpp+p.ch])
		}
	}
	return out
}

func (p plane) resizeWidth(dw int) plane {
	weights := linearWeights(dw, p.w)
	out := plane{pix: make([]uint8, dw*p.h*p.ch), stride: dw * p.ch, w: dw, h: p.h, bpp: p.ch, ch: p.ch}
	for y := 0; y < p.h; y++ {
		row := p.pix[y*p.stride : y*p.stride+p.w*p.bpp]
		dst := out.pix[y*out.stride : (y+1)*out.stride]
		for x, taps := range weights {
			var r, g, b, a float64
			if p.ch == 1 {
				for _, t := range taps {
					aw := 255 * t.weight // imaging weighs by alpha, 255 here
					r += float64(row[t.index]) * aw
					a += aw
				}
				if a != 0 {
					dst[x] = clampRound(r * (1 / a))
				}
				continue
			}
			for _, t := range taps {
				aw := 255 * t.weight
				s := row[t.index*p.bpp : t.index*p.bpp+3]
				r += float64(s[0]) * aw
				g += float64(s[1]) * aw
				b += float64(s[2]) * aw
				a += aw
			}
			if a != 0 {
				aInv := 1 / a
				d := dst[3*x : 3*x+3]
				d[0], d[1], d[2] = clampRound(r*aInv), clampRound(g*aInv), clampRound(b*aInv)
			}
		}
	}
	return out
}

func (p plane) resizeHeight(dh int) plane {
	weights := linearWeights(dh, p.h)
	n := p.w * p.ch
	out := plane{pix: make([]uint8, p.w*dh*p.ch), stride: n, w: p.w, h: dh, bpp: p.ch, ch: p.ch}
	acc := make([]float64, n)
	for y, taps := range weights {
		clear(acc)
		var a float64
		for _, t := range taps {
			aw := 255 * t.weight
			row := p.pix[t.index*p.stride:]
			if p.bpp == p.ch {
				for i, v := range row[:n] {
					acc[i] += float64(v) * aw
				}
			} else {
				for x := 0; x < p.w; x++ {
					for c := 0; c < p.ch; c++ {
						acc[x*p.ch+c] += float64(row[x*p.bpp+c]) * aw
					}
				}
			}
			a += aw
		}
		if a != 0 {
			aInv := 1 / a
			dst := out.pix[y*out.stride:]
			for i, v := range acc {
				dst[i] = clampRound(v * aInv)
			}
		}
	}
	return out
}
