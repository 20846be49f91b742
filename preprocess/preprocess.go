package preprocess

import (
	"errors"
	"fmt"
	"image"
	"os"

	"github.com/xraylab/xray/preprocess/dicom"
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
	Size    int          // output is Size x Size x 3; default DefaultSize
	Scaling Scaling      // Unit (default) or ImageNet
	Window  dicom.Window // how DICOM values become 8-bit gray; zero value dicom.WindowAuto
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
	return p.Window.Validate()
}

// Decode is the package's Decode with p's Window for DICOM files.
func (p Preprocessor) Decode(b []byte) (image.Image, error) {
	if dicom.Is(b) {
		img, _, err := dicom.Decode(b, p.Window)
		return img, err
	}
	return Decode(b)
}

// Len is the number of floats (or bytes) one preprocessed image has: Size*Size*3.
func (p Preprocessor) Len() int { return p.Size * p.Size * 3 }

// Pixels resizes img, already decoded and upright, to Size x Size and returns its RGB
// pixels, row-major HWC uint8 (the form the loader caches). It runs the resize part of
// GraphDef on img's 8-bit samples: grayscale (*image.Gray, *image.Gray16: high byte) as
// one channel, anything else through ToRGB. For an image Decode returned, the result is
// bit-identical to EncodedPixels of the file.
func (p Preprocessor) Pixels(img image.Image) ([]uint8, error) {
	if img == nil {
		return nil, errors.New("nil image")
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("image of %d x %d pixels: outside 1..%d pixels", w, h, MaxPixels)
	}
	r, err := runnerFor(p.Size)
	if err != nil {
		return nil, err
	}
	switch g := img.(type) {
	case *image.Gray:
		return r.pixelsOf(grayAtOrigin(g).Pix, h, w, 1)
	case *image.Gray16:
		return r.pixelsOf(gray16To8(g).Pix, h, w, 1)
	}
	rgb := ToRGB(img)
	pix := make([]uint8, 3*w*h)
	for i := 0; i < w*h; i++ {
		pix[3*i], pix[3*i+1], pix[3*i+2] = rgb.Pix[4*i], rgb.Pix[4*i+1], rgb.Pix[4*i+2]
	}
	return r.pixelsOf(pix, h, w, 3)
}

// EncodedPixels decodes an encoded JPEG or PNG and resizes it: GraphDef run in-process,
// the same bits as a SavedModel's serving_bytes (which, fed no orientation, leaves
// EXIF-rotated files as stored). A DICOM file is decoded in Go with p.Window and joins
// the graph after the decoder, as Pixels does.
func (p Preprocessor) EncodedPixels(b []byte) ([]uint8, error) {
	if dicom.Is(b) {
		img, _, err := dicom.Decode(b, p.Window)
		if err != nil {
			return nil, err
		}
		return p.Pixels(img)
	}
	kind, err := sniff(b)
	if err != nil {
		return nil, err
	}
	r, err := runnerFor(p.Size)
	if err != nil {
		return nil, err
	}
	t, err := r.run(kind, b, r.pixels)
	if err != nil {
		return nil, err
	}
	return flatU8(t)
}

// Floats is Pixels followed by the scaling: Size*Size*3 float32, HWC.
func (p Preprocessor) Floats(img image.Image) ([]float32, error) {
	return p.scaled(p.Pixels(img))
}

// Bytes decodes an encoded JPEG, PNG or DICOM file and preprocesses it.
func (p Preprocessor) Bytes(b []byte) ([]float32, error) {
	return p.scaled(p.EncodedPixels(b))
}

// File reads, decodes and preprocesses one image file; errors name the file.
func (p Preprocessor) File(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	x, err := p.Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

func (p Preprocessor) scaled(pix []uint8, err error) ([]float32, error) {
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(pix))
	p.Scaling.Apply(pix, out)
	return out, nil
}
