package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
)

// Scaling maps resized uint8 pixels to the float range a network expects.
type Scaling string

const (
	// Unit divides by 255: [0, 1], the paper's preprocessing (also read as "paper").
	Unit Scaling = "unit"
	// ImageNet divides by 127.5 and subtracts 1: [-1, 1], Keras's "tf" mode used by the
	// ImageNet weights of MobileNet, Xception and InceptionV3 (also read as "tf").
	ImageNet Scaling = "imagenet"
)

// DefaultSize is the paper's input size (256 x 256).
const DefaultSize = 256

// MaxPixels bounds the width x height Decode accepts (33.5 Mpx, e.g. 5790 x 5790), so a
// small hostile file cannot make it allocate gigabytes. Digital X-ray detectors stay under
// 20 Mpx; the largest Kermany original is 2890 x 2660 (7.7 Mpx).
const MaxPixels = 1 << 25

// ErrScaling is wrapped by UnmarshalText and Validate for a scaling name they do not know.
var ErrScaling = errors.New("unknown scaling")

// UnmarshalText reads a scaling by name: "unit" or "paper" for [0, 1], "imagenet" or "tf"
// for [-1, 1]. An unknown name wraps ErrScaling.
func (s *Scaling) UnmarshalText(b []byte) error {
	switch string(b) {
	case "paper", "unit":
		*s = Unit
	case "imagenet", "tf":
		*s = ImageNet
	default:
		return fmt.Errorf("%w %q: use paper ([0,1]) or imagenet ([-1,1])", ErrScaling, b)
	}
	return nil
}

// MarshalText writes the canonical name, "unit" or "imagenet" (nothing for the zero
// value); an unknown scaling wraps ErrScaling.
func (s Scaling) MarshalText() ([]byte, error) {
	if s != "" && s != Unit && s != ImageNet {
		return nil, fmt.Errorf("%w %q: use %q or %q", ErrScaling, string(s), Unit, ImageNet)
	}
	return []byte(s), nil
}

// Apply writes the scaled pixels into dst (len(dst) must be at least len(pix)). The
// arithmetic is float32: v/255 for Unit, v/127.5 - 1 for ImageNet, so an in-graph
// Cast+RealDiv(+Sub) gives bit-identical results.
func (s Scaling) Apply(pix []uint8, dst []float32) {
	dst = dst[:len(pix)]
	switch s {
	case ImageNet:
		for i, v := range pix {
			dst[i] = float32(v)/127.5 - 1
		}
	default:
		for i, v := range pix {
			dst[i] = float32(v) / 255
		}
	}
}

// Preprocessor is the one preprocessing of the project: every image that training,
// evaluation, prediction or serving sees in Go goes through it. See the package doc for
// the exact steps and how closely it matches PIL and TensorFlow.
type Preprocessor struct {
	Size    int     // output is Size x Size x 3; default DefaultSize
	Scaling Scaling // Unit (default) or ImageNet
}

// DefaultPreprocessor is the paper's: 256 x 256, [0, 1].
func DefaultPreprocessor() Preprocessor { return Preprocessor{Size: DefaultSize, Scaling: Unit} }

// Validate reports a size or scaling Preprocessor cannot use.
func (p Preprocessor) Validate() error {
	if p.Size < 1 || p.Size > 4096 {
		return fmt.Errorf("input size %d out of range: use 1..4096 (the paper uses %d)", p.Size, DefaultSize)
	}
	if p.Scaling != Unit && p.Scaling != ImageNet {
		return fmt.Errorf("%w %q: use %q or %q", ErrScaling, string(p.Scaling), Unit, ImageNet)
	}
	return nil
}

// Len is the number of floats (or bytes) one preprocessed image has: Size*Size*3.
func (p Preprocessor) Len() int { return p.Size * p.Size * 3 }

// Pixels resizes img to Size x Size and returns its RGB pixels, row-major HWC uint8 (the
// form the loader caches). Grayscale images (*image.Gray, as Decode returns them) are
// resized as one channel and then repeated, which gives the same values as resizing the
// three equal channels; anything else goes through ToRGB first.
func (p Preprocessor) Pixels(img image.Image) []uint8 {
	out := make([]uint8, p.Len())
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return out
	}
	if g, ok := img.(*image.Gray); ok {
		pl := plane{pix: g.Pix[g.PixOffset(b.Min.X, b.Min.Y):], stride: g.Stride, w: b.Dx(), h: b.Dy(), bpp: 1, ch: 1}
		r := pl.resize(p.Size, p.Size)
		for i, v := range r {
			out[3*i], out[3*i+1], out[3*i+2] = v, v, v
		}
		return out
	}
	rgb := ToRGB(img)
	pl := plane{pix: rgb.Pix, stride: rgb.Stride, w: b.Dx(), h: b.Dy(), bpp: 4, ch: 3}
	copy(out, pl.resize(p.Size, p.Size))
	return out
}

// Floats is Pixels followed by the scaling: Size*Size*3 float32, HWC.
func (p Preprocessor) Floats(img image.Image) []float32 {
	pix := p.Pixels(img)
	out := make([]float32, len(pix))
	p.Scaling.Apply(pix, out)
	return out
}

// Bytes decodes an encoded JPEG or PNG and preprocesses it.
func (p Preprocessor) Bytes(b []byte) ([]float32, error) {
	img, err := Decode(b)
	if err != nil {
		return nil, err
	}
	return p.Floats(img), nil
}

// File reads, decodes and preprocesses one image file; errors name the file.
func (p Preprocessor) File(path string) ([]float32, error) {
	pix, err := p.filePixels(path)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(pix))
	p.Scaling.Apply(pix, out)
	return out, nil
}

// filePixels is File without the scaling: what the loader caches.
func (p Preprocessor) filePixels(path string) ([]uint8, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p.Pixels(img), nil
}

// Errors Decode wraps, so callers can tell the kind of bad input apart.
var (
	ErrEmpty       = errors.New("empty file")
	ErrUnsupported = errors.New("not a JPEG or PNG image")
)

// format sniffs the encoding from the magic bytes (file names lie: a .jpeg may be a PNG).
func format(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpeg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "png"
	}
	return ""
}

// Config reads an image's format and size from its header without decoding the pixels.
func Config(b []byte) (kind string, w, h int, err error) {
	if len(b) == 0 {
		return "", 0, 0, ErrEmpty
	}
	var cfg image.Config
	f := format(b)
	switch f {
	case "jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	case "png":
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	default:
		return "", 0, 0, ErrUnsupported
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("corrupt %s header: %v", f, err)
	}
	return f, cfg.Width, cfg.Height, nil
}

// Decode decodes a JPEG or PNG (8- or 16-bit grayscale, gray+alpha, RGB, RGBA, paletted,
// CMYK/YCCK JPEG) and applies a JPEG's EXIF orientation. Grayscale sources come back as
// *image.Gray (16-bit samples keep their high byte), everything else as an opaque RGB
// *image.NRGBA (alpha dropped, not composited), both with origin (0, 0): the values
// TensorFlow's DecodeJpeg/DecodePng give with channels=3. Bad input returns an error,
// never panics.
func Decode(b []byte) (img image.Image, err error) {
	f, w, h, err := Config(b)
	if err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("%s of %d x %d pixels: outside 1..%d pixels", f, w, h, MaxPixels)
	}
	// The standard decoders are well fuzzed, but a panic here would take a server down.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("corrupt %s: decoder panic: %v", f, r)
		}
	}()
	var m image.Image
	if f == "jpeg" {
		m, err = jpeg.Decode(bytes.NewReader(b))
	} else {
		m, err = png.Decode(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("corrupt %s: %v", f, err)
	}
	o := 1
	if f == "jpeg" {
		o = jpegOrientation(b)
	}
	switch g := m.(type) {
	case *image.Gray:
		return orientGray(grayAtOrigin(g), o), nil
	case *image.Gray16:
		return orientGray(gray16To8(g), o), nil
	}
	return orientRGB(ToRGB(m), o), nil
}

// grayAtOrigin returns g with its origin moved to (0, 0), copying only when needed.
func grayAtOrigin(g *image.Gray) *image.Gray {
	b := g.Bounds()
	if b.Min == (image.Point{}) {
		return g
	}
	w, h := b.Dx(), b.Dy()
	dst := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		copy(dst.Pix[y*w:(y+1)*w], g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):])
	}
	return dst
}

// gray16To8 keeps the high byte of each sample, as TensorFlow's DecodePng does for uint8.
func gray16To8(g *image.Gray16) *image.Gray {
	b := g.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		row := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):]
		for x := 0; x < w; x++ {
			dst.Pix[y*w+x] = row[2*x] // big-endian: high byte first
		}
	}
	return dst
}

// ToRGB converts any image to opaque RGB in an NRGBA (alpha 255), origin at (0, 0):
// gray is replicated, 16-bit samples keep the high byte, alpha is dropped.
func ToRGB(m image.Image) *image.NRGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	px := dst.Pix
	set := func(i int, r, g, bl uint8) { px[i], px[i+1], px[i+2], px[i+3] = r, g, bl, 0xFF }
	switch s := m.(type) {
	case *image.NRGBA:
		if s.Rect.Min == (image.Point{}) && opaque(s) {
			return s
		}
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				set((y*w+x)*4, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				v := row[x]
				set((y*w+x)*4, v, v, v)
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				v := row[2*x] // high byte, big-endian
				set((y*w+x)*4, v, v, v)
			}
		}
	case *image.YCbCr:
		if fancyYCbCr(s, dst) {
			break
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := s.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := s.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := yccToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				set((y*w+x)*4, r, g, bl)
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				r, g, bl := color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
				set((y*w+x)*4, r, g, bl)
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				r, g, bl, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
				if a != 0xFF && a != 0 { // un-premultiply, as NRGBA would hold it
					r, g, bl = uint8(int(r)*255/int(a)), uint8(int(g)*255/int(a)), uint8(int(bl)*255/int(a))
				}
				set((y*w+x)*4, r, g, bl)
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				set((y*w+x)*4, row[8*x], row[8*x+2], row[8*x+4])
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
	return dst
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

// orientGray and orientRGB apply an EXIF orientation (1..8) so the image shows upright,
// as PIL's ImageOps.exif_transpose does.
// m's origin must be (0, 0).
func orientGray(m *image.Gray, o int) *image.Gray {
	if o < 2 || o > 8 {
		return m
	}
	pix, w, h := orientPix(m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy(), 1, o)
	return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
}

func orientRGB(m *image.NRGBA, o int) *image.NRGBA {
	if o < 2 || o > 8 {
		return m
	}
	pix, w, h := orientPix(m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy(), 4, o)
	return &image.NRGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
}

// orientPix remaps w x h pixels of bpp bytes (rows stride bytes apart) for orientation
// o in 2..8 into a packed buffer; 5..8 swap the axes.
func orientPix(pix []uint8, stride, w, h, bpp, o int) ([]uint8, int, int) {
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := make([]uint8, w*h*bpp)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch o {
			case 2: // mirrored left-right
				sx, sy = w-1-x, y
			case 3: // rotated 180
				sx, sy = w-1-x, h-1-y
			case 4: // mirrored top-bottom
				sx, sy = x, h-1-y
			case 5: // transposed
				sx, sy = y, x
			case 6: // needs a 90 degree clockwise turn
				sx, sy = y, h-1-x
			case 7: // transversed
				sx, sy = w-1-y, h-1-x
			case 8: // needs a 90 degree counter-clockwise turn
				sx, sy = w-1-y, x
			}
			copy(out[(y*ow+x)*bpp:(y*ow+x+1)*bpp], pix[sy*stride+sx*bpp:])
		}
	}
	return out, ow, oh
}
