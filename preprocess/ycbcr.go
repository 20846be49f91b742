package preprocess

import (
	"image"

	"github.com/xraylab/xray/internal/jpegcolor"
)

// fancyYCbCr converts a 4:2:0 or 4:2:2 JPEG to RGB with libjpeg's "fancy upsampling" of
// the chroma planes (a triangle filter: 3/4 nearer sample + 1/4 further, with libjpeg's
// rounding biases, edges replicated), which TensorFlow's decode_jpeg and PIL use. Go's
// image/jpeg leaves chroma at half resolution and YCbCrAt replicates it, which differs
// from libjpeg by up to ~30 levels at sharp colour edges. Returns false for layouts it
// does not handle (the caller falls back to replication).
func fancyYCbCr(s *image.YCbCr, dst *image.NRGBA) bool {
	var hs, vs int
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	default:
		return false
	}
	if s.Rect.Min != (image.Point{}) {
		return false
	}
	w, h := s.Rect.Dx(), s.Rect.Dy()
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	if len(s.Cb) < (ch-1)*s.CStride+cw || len(s.Cr) < (ch-1)*s.CStride+cw {
		return false
	}
	cb := upsampleChroma(s.Cb, s.CStride, cw, ch, vs, w, h)
	cr := upsampleChroma(s.Cr, s.CStride, cw, ch, vs, w, h)
	for y := 0; y < h; y++ {
		yrow := s.Y[y*s.YStride:]
		out := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			r, g, b := jpegcolor.YCbCrToRGB(yrow[x], cb[y*w+x], cr[y*w+x])
			out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = r, g, b, 0xFF
		}
	}
	return true
}

// upsampleChroma doubles a cw x ch plane horizontally (and vertically when vs == 2) into
// a w x h plane, exactly as libjpeg-turbo's h2v1_fancy_upsample / h2v2_fancy_upsample.
func upsampleChroma(p []uint8, stride, cw, ch, vs, w, h int) []uint8 {
	out := make([]uint8, w*h)
	colsum := make([]int, cw)
	row := make([]uint8, 2*cw)
	for oy := 0; oy < h; oy++ {
		iy := oy / vs
		if vs == 2 {
			ny := iy - 1 // upper output row of a pair: the input row above is the further one
			if oy%2 == 1 {
				ny = iy + 1
			}
			ny = min(max(ny, 0), ch-1) // libjpeg replicates the edge rows as context
			for c := 0; c < cw; c++ {
				colsum[c] = 3*int(p[iy*stride+c]) + int(p[ny*stride+c])
			}
			for c := 0; c < cw; c++ {
				if c == 0 {
					row[0] = uint8((colsum[0]*4 + 8) >> 4)
				} else {
					row[2*c] = uint8((colsum[c]*3 + colsum[c-1] + 8) >> 4)
				}
				if c == cw-1 {
					row[2*c+1] = uint8((colsum[c]*4 + 7) >> 4)
				} else {
					row[2*c+1] = uint8((colsum[c]*3 + colsum[c+1] + 7) >> 4)
				}
			}
		} else {
			in := p[iy*stride:]
			for c := 0; c < cw; c++ {
				v := 3 * int(in[c])
				if c == 0 {
					row[0] = in[0]
				} else {
					row[2*c] = uint8((v + int(in[c-1]) + 1) >> 2)
				}
				if c == cw-1 {
					row[2*c+1] = in[c]
				} else {
					row[2*c+1] = uint8((v + int(in[c+1]) + 2) >> 2)
				}
			}
		}
		copy(out[oy*w:(oy+1)*w], row[:w])
	}
	return out
}
