package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"github.com/xraylab/xray/preprocess/dicom"
)

// MaxPixels bounds the width x height Decode accepts (33.5 Mpx, e.g. 5790 x 5790), so a
// small hostile file cannot make it allocate gigabytes. Digital X-ray detectors stay under
// 20 Mpx; the largest Kermany original is 2890 x 2660 (7.7 Mpx). The DICOM reader applies
// the same bound to a header's Rows x Columns.
const MaxPixels = dicom.MaxPixels

// MinSide is the smallest width or height xray takes in: ingest skips smaller images and
// serving refuses them (a 16 x 16 thumbnail is no X-ray).
const MinSide = 32

// SizeError is an image size outside MinSide..MaxPixels (CheckSize).
type SizeError struct{ Width, Height int }

func (e *SizeError) Error() string {
	if e.Width < MinSide || e.Height < MinSide {
		return fmt.Sprintf("%d x %d pixels: smaller than %d px", e.Width, e.Height, MinSide)
	}
	return fmt.Sprintf("%d x %d pixels: more than %d", e.Width, e.Height, MaxPixels)
}

// CheckSize is the one size rule of ingest and serving, applied to a header's size
// (Config) before any pixel is decoded: sides of at least MinSide, at most MaxPixels in
// all. The error is a *SizeError.
func CheckSize(w, h int) error {
	if w < MinSide || h < MinSide || int64(w)*int64(h) > MaxPixels {
		return &SizeError{w, h}
	}
	return nil
}

// Errors Decode wraps, so callers can tell the kind of bad input apart.
var (
	ErrEmpty       = errors.New("empty file")
	ErrUnsupported = errors.New("not a JPEG, PNG or DICOM image")
)

// format sniffs the encoding from the magic bytes (file names lie: a .jpeg may be a PNG).
func format(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpeg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "png"
	case dicom.Is(b):
		return "dicom"
	}
	return ""
}

// Config reads an image's format ("jpeg", "png" or "dicom") and size from its header
// without decoding the pixels. For DICOM it also checks the file's structure.
func Config(b []byte) (kind string, w, h int, err error) {
	if len(b) == 0 {
		return "", 0, 0, ErrEmpty
	}
	var cfg image.Config
	f := format(b)
	switch f {
	case "dicom":
		info, err := dicom.Config(b)
		return f, info.Columns, info.Rows, err
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

// sniff reads the header: the format, and a size Decode accepts.
func sniff(b []byte) (kind string, err error) {
	f, w, h, err := Config(b)
	if err != nil {
		return "", err
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return "", fmt.Errorf("%s of %d x %d pixels: outside 1..%d pixels", f, w, h, MaxPixels)
	}
	return f, nil
}

// Decode decodes a JPEG or PNG (8- or 16-bit grayscale, gray+alpha, RGB, RGBA, paletted,
// CMYK/YCCK JPEG) with the decoder of GraphDef (libjpeg-turbo, libpng) and applies a
// JPEG's EXIF orientation. Grayscale sources come back as *image.Gray (16-bit samples
// keep their high byte), everything else as an opaque RGB *image.NRGBA (alpha dropped,
// not composited), both with origin (0, 0). A DICOM file is decoded by dicom.Decode with
// the automatic window (Preprocessor.Decode uses its Window). Bad input returns an error.
func Decode(b []byte) (image.Image, error) {
	if dicom.Is(b) {
		img, _, err := dicom.Decode(b, dicom.Window{})
		return img, err
	}
	kind, err := sniff(b)
	if err != nil {
		return nil, err
	}
	r, err := runnerFor(DefaultSize)
	if err != nil {
		return nil, err
	}
	t, err := r.run(kind, b, r.decoded)
	if err != nil {
		return nil, err
	}
	return imageOf(t)
}

// grayAtOrigin returns g with its origin moved to (0, 0) and rows packed (Stride ==
// width), copying only when needed.
func grayAtOrigin(g *image.Gray) *image.Gray {
	b := g.Bounds()
	if b.Min == (image.Point{}) && g.Stride == b.Dx() {
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
