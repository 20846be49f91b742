package adapt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"iter"
	"os"

	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
)

// adaptInput is one image Run or Images reads, from a file or from memory: its name for errors,
// and its preprocessed pixels with the hex SHA-256 the image-set digest is over.
type adaptInput interface {
	name() string
	pixels(pre preprocess.Preprocessor) (pix []uint8, sum string, err error)
}

// adaptFile is an image file: decoded as serving_bytes does (preprocess.EncodedPixels),
// its digest over the file's bytes.
type adaptFile string

func (f adaptFile) name() string { return string(f) }

func (f adaptFile) pixels(pre preprocess.Preprocessor) ([]uint8, string, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return nil, "", err
	}
	s := sha256.Sum256(b)
	pix, err := pre.EncodedPixels(b)
	return pix, hex.EncodeToString(s[:]), err
}

// fileInputs is a source of paths as adaptInputs; a broken source (an error with no
// path) stays a nil input.
func fileInputs(paths iter.Seq2[string, error]) iter.Seq2[adaptInput, error] {
	return func(yield func(adaptInput, error) bool) {
		for p, err := range paths {
			var in adaptInput
			if p != "" {
				in = adaptFile(p)
			}
			if !yield(in, err) {
				return
			}
		}
	}
}

// Image is one image for Images, decoded already and upright (e.g. a file
// decoded by the model's Preprocessor and then changed in memory).
type Image struct {
	Name  string // names the image in errors (e.g. its path)
	Image image.Image
}

func (a Image) name() string { return a.Name }

// pixels resizes the image as Predict does for a decoded image (preprocess.Pixels); the
// digest is over those pixels, the image the model saw.
func (a Image) pixels(pre preprocess.Preprocessor) ([]uint8, string, error) {
	pix, err := pre.Pixels(a.Image)
	if err != nil {
		return nil, "", err
	}
	s := sha256.Sum256(pix)
	return pix, hex.EncodeToString(s[:]), nil
}

// Images is Run on images held in memory instead of files: each is resized and
// scaled by the model's preprocessing as Predict does for a decoded image, so adapting
// on an image equals adapting on it written as a lossless PNG. The sequence is read
// once, in order, one chunk at a time (memory holds a chunk, not the set); an error with
// an image counts it as unreadable, one without (zero Image) ends the read with it.
// savedmodels.Adaptation.ImageSet is over each image's preprocessed pixels. Errors are Run's.
func Images(ctx context.Context, src, dst string, images iter.Seq2[Image, error], opts Options) (*savedmodels.Adaptation, error) {
	return run(ctx, src, dst, func(yield func(adaptInput, error) bool) {
		for img, err := range images {
			var in adaptInput
			if img.Image != nil || img.Name != "" {
				in = img
			}
			if !yield(in, err) {
				return
			}
		}
	}, opts)
}
