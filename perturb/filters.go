package perturb

import "math"

// blur is scipy.ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="reflect",
// truncate=4.0) on float64 samples, rows (axis 0) first, then columns, rounded at the end.
func (p planes) blur(sigma float64) planes {
	radius := int(4*sigma + 0.5)
	w := make([]float64, radius+1) // w[j] for offsets -j and +j: _gaussian_kernel1d
	var sum float64
	for j := -radius; j <= radius; j++ {
		v := math.Exp(-0.5 / (sigma * sigma) * float64(j*j))
		sum += v
		if j >= 0 {
			w[j] = v
		}
	}
	for j := range w {
		w[j] /= sum
	}
	x := make([]float64, len(p.pix))
	for i, v := range p.pix {
		x[i] = float64(v)
	}
	// axis 0: stride w*c over h positions; axis 1: stride c over w positions.
	x = correlate(x, w, p.h, p.w*p.c, p.w*p.c, 1)
	x = correlate(x, w, p.w, p.c, p.c, p.h)
	out := planes{p.w, p.h, p.c, make([]uint8, len(x))}
	for i, v := range x {
		out.pix[i] = clip8(v)
	}
	return out
}

// correlate filters x along one axis with the symmetric kernel w: the axis has n
// positions step apart; a line starts at o*n*step + k for o < others, k < lineStep. Sums
// as scipy's NI_Correlate1D does for a symmetric kernel: x[i]*w[0] + sum over j = radius
// down to 1 of (x[i-j] + x[i+j]) * w[j], mirrored edges.
func correlate(x, w []float64, n, step, lineStep, others int) []float64 {
	out := make([]float64, len(x))
	radius := len(w) - 1
	line := make([]float64, n+2*radius)
	for o := 0; o < others; o++ {
		for k := 0; k < lineStep; k++ {
			base := o*n*step + k
			for i := range line {
				line[i] = x[base+reflect(i-radius, n)*step]
			}
			for i := 0; i < n; i++ {
				c := i + radius
				v := line[c] * w[0]
				for j := radius; j >= 1; j-- {
					v += (line[c-j] + line[c+j]) * w[j]
				}
				out[base+i*step] = v
			}
		}
	}
	return out
}

// reflect maps i into 0..n-1 as scipy's "reflect" mode (d c b a | a b c d | d c b a).
func reflect(i, n int) int {
	period := 2 * n
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - 1 - i
	}
	return i
}

// normals are n standard normal values from a counter-based generator: value i uses
// SplitMix64's output for counters 2i+1 and 2i+2 after seed, made uniform (53 bits) and
// paired by Box-Muller (the cosine branch).
func normals(seed uint64, n int) []float64 {
	const golden = 0x9e3779b97f4a7c15
	mix := func(z uint64) uint64 {
		z ^= z >> 30
		z *= 0xbf58476d1ce4e5b9
		z ^= z >> 27
		z *= 0x94d049bb133111eb
		return z ^ z>>31
	}
	out := make([]float64, n)
	for i := range out {
		u1 := float64(mix(seed+uint64(2*i+1)*golden)>>11+1) * 0x1p-53 // (0, 1]
		u2 := float64(mix(seed+uint64(2*i+2)*golden)>>11) * 0x1p-53   // [0, 1)
		out[i] = math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	}
	return out
}

// Pillow's resampling (libImaging/Resample.c) for BILINEAR on 8-bit images: weights
// computed in float64, normalised, turned into fixed point with 22 fractional bits; a
// horizontal pass, rounded to 8 bits, then a vertical one.
const precisionBits = 32 - 8 - 2

// resize is Image.resize((w, h), Image.BILINEAR).
func (p planes) resize(w, h int) planes {
	tmp := p
	if w != p.w {
		tmp = p.pass(w, p.h, pillowCoeffs(p.w, w), true)
	}
	if h != p.h {
		tmp = tmp.pass(w, h, pillowCoeffs(p.h, h), false)
	}
	return tmp
}

// coeffs are one output position's first input index and fixed-point weights.
type coeffs struct {
	first int
	k     []int64
}

// pillowCoeffs is precompute_coeffs + normalize_coeffs_8bpc for the triangle filter.
func pillowCoeffs(in, out int) []coeffs {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := filterscale // the triangle's support is 1
	cs := make([]coeffs, out)
	for xx := range cs {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := max(0, int(center-support+0.5))
		xmax := min(in, int(center+support+0.5)) - xmin
		ws := make([]float64, max(0, xmax))
		var ww float64
		for x := range ws {
			t := math.Abs((float64(x+xmin) - center + 0.5) * ss)
			if t < 1 {
				ws[x] = 1 - t
			}
			ww += ws[x]
		}
		k := make([]int64, len(ws))
		for x, v := range ws {
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int64(-0.5 + v*(1<<precisionBits))
			} else {
				k[x] = int64(0.5 + v*(1<<precisionBits))
			}
		}
		cs[xx] = coeffs{xmin, k}
	}
	return cs
}

// pass resamples along x (horizontal) or y to w x h with cs.
func (p planes) pass(w, h int, cs []coeffs, horizontal bool) planes {
	out := planes{w, h, p.c, make([]uint8, w*h*p.c)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ch := 0; ch < p.c; ch++ {
				ss := int64(1) << (precisionBits - 1)
				if horizontal {
					c := cs[x]
					for i, k := range c.k {
						ss += int64(p.pix[(y*p.w+c.first+i)*p.c+ch]) * k
					}
				} else {
					c := cs[y]
					for i, k := range c.k {
						ss += int64(p.pix[((c.first+i)*p.w+x)*p.c+ch]) * k
					}
				}
				out.pix[(y*w+x)*p.c+ch] = fixedClip8(ss)
			}
		}
	}
	return out
}

// fixedClip8 is Pillow's clip8 of a fixed-point sum.
func fixedClip8(ss int64) uint8 {
	switch {
	case ss >= 1<<precisionBits<<8:
		return 255
	case ss <= 0:
		return 0
	}
	return uint8(ss >> precisionBits)
}
