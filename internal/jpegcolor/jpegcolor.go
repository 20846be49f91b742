// Package jpegcolor is libjpeg's YCbCr to RGB conversion, bit for bit: the one rule for
// JPEG colour (package preprocess, for images Go's image/jpeg decoded) and for DICOM's
// YBR_FULL, which is the same colour space (PS3.3 C.7.6.3.1.2; package preprocess/dicom).
// Go's color.YCbCrToRGB rounds differently and is off by one on ~10 % of colour pixels.
package jpegcolor

// libjpeg's tables (jdcolor.c, 16-bit fixed point).
var yccR, yccB [256]int32
var yccGCr, yccGCb [256]int32

func init() {
	const half = 1 << 15
	fix := func(x float64) int32 { return int32(x*65536 + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		yccR[i] = (fix(1.40200)*x + half) >> 16
		yccB[i] = (fix(1.77200)*x + half) >> 16
		yccGCr[i] = -fix(0.71414) * x
		yccGCb[i] = -fix(0.34414)*x + half
	}
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// YCbCrToRGB converts one JPEG YCbCr sample to RGB exactly as libjpeg does.
func YCbCrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	return clamp8(yy + yccR[cr]), clamp8(yy + (yccGCb[cb]+yccGCr[cr])>>16), clamp8(yy + yccB[cb])
}
