package preprocess

import (
	"image"
	"image/color"

	"github.com/xraylab/xray/internal/jpegcolor"
)

// ToRGB converts any image to opaque RGB in an NRGBA (alpha 255), origin at (0, 0):
// gray is replicated, 16-bit samples keep the high byte, alpha is dropped.
func ToRGB(m image.Image) *image.NRGBA {
	b := m.Bounds()
	if s, ok := m.(*image.NRGBA); ok && s.Rect.Min == (image.Point{}) && opaque(s) {
		return s
	}
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if !rowsToRGB(m, dst) {
		otherToRGB(m, dst)
	}
	return dst
}

// rowsToRGB converts the pixel layouts read row by row from Pix into dst; false for
// the others.
func rowsToRGB(m image.Image, dst *image.NRGBA) bool {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	px := dst.Pix
	set := func(i int, r, g, bl uint8) { px[i], px[i+1], px[i+2], px[i+3] = r, g, bl, 0xFF }
	var conv func(row []uint8, x int) (r, g, bl uint8)
	var rowOf func(y int) []uint8
	switch s := m.(type) {
	case *image.NRGBA:
		rowOf = func(y int) []uint8 { return s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):] }
		conv = func(row []uint8, x int) (uint8, uint8, uint8) { return row[4*x], row[4*x+1], row[4*x+2] }
	case *image.Gray:
		rowOf = func(y int) []uint8 { return s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):] }
		conv = func(row []uint8, x int) (uint8, uint8, uint8) { return row[x], row[x], row[x] }
	case *image.Gray16:
		rowOf = func(y int) []uint8 { return s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):] }
		conv = func(row []uint8, x int) (uint8, uint8, uint8) { return row[2*x], row[2*x], row[2*x] } // high byte, big-endian
	case *image.CMYK:
		rowOf = func(y int) []uint8 { return s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):] }
		conv = func(row []uint8, x int) (uint8, uint8, uint8) {
			return color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
		}
	case *image.RGBA:
		rowOf = func(y int) []uint8 { return s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):] }
		conv = func(row []uint8, x int) (uint8, uint8, uint8) {
			r, g, bl, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
			if a != 0xFF && a != 0 { // un-premultiply, as NRGBA would hold it
				r, g, bl = uint8(int(r)*255/int(a)), uint8(int(g)*255/int(a)), uint8(int(bl)*255/int(a))
			}
			return r, g, bl
		}
	case *image.NRGBA64:
		rowOf = func(y int) []uint8 { return s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):] }
		conv = func(row []uint8, x int) (uint8, uint8, uint8) { return row[8*x], row[8*x+2], row[8*x+4] }
	default:
		return false
	}
	for y := 0; y < h; y++ {
		row := rowOf(y)
		for x := 0; x < w; x++ {
			r, g, bl := conv(row, x)
			set((y*w+x)*4, r, g, bl)
		}
	}
	return true
}

// otherToRGB converts YCbCr, paletted and any other image into dst.
func otherToRGB(m image.Image, dst *image.NRGBA) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	px := dst.Pix
	set := func(i int, r, g, bl uint8) { px[i], px[i+1], px[i+2], px[i+3] = r, g, bl, 0xFF }
	switch s := m.(type) {
	case *image.YCbCr:
		if fancyYCbCr(s, dst) {
			return
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := s.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := s.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := jpegcolor.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				set((y*w+x)*4, r, g, bl)
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(s.Palette))
		for i, c := range s.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				var c [3]uint8
				if int(row[x]) < len(pal) {
					c = pal[row[x]]
				}
				set((y*w+x)*4, c[0], c[1], c[2])
			}
		}
	default: // RGBA64 and anything else: un-premultiply, keep the high byte.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				set((y*w+x)*4, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
			}
		}
	}
}

func opaque(m *image.NRGBA) bool {
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		i := m.PixOffset(b.Min.X, y)
		for x := 0; x < b.Dx(); x++ {
			if m.Pix[i+4*x+3] != 0xFF {
				return false
			}
		}
	}
	return true
}
