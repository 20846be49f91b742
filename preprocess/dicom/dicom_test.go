package dicom_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
)

// dicomIndex is scripts/ref/dicom_make.py's index.json.
type dicomIndex struct {
	Fixed   [2]float64
	Sources []struct {
		Source     string
		Rows, Cols int
		Cases      []struct {
			Name           string
			File           string
			SOPInstanceUID string `json:"sop_instance_uid"`
		}
	}
}

// dicomSources are the sample X-rays the DICOM test files are made from.
var dicomSources = []string{
	"chest_xray/train/NORMAL/IM-0152-0001.jpeg",
	"chest_xray/test/PNEUMONIA/person325_virus_659.jpeg",
}

// dicomReference makes the DICOM test files and pydicom's reference pixels once (cached by
// script and source hashes) and returns the index and its directory.
func dicomReference(t testing.TB) (dicomIndex, string) {
	t.Helper()
	script := pyref.Script("dicom_make.py")
	size := "128,112"
	key := []string{"dicom_make", pyref.FileHash(t, script), size}
	var srcs []string
	for _, s := range dicomSources {
		p := filepath.Join(pyref.RepoRoot(), "testdata", filepath.FromSlash(s))
		srcs = append(srcs, p)
		key = append(key, s, pyref.FileHash(t, p))
	}
	dir := pyref.CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		pyref.Run(t, script, append([]string{dir, size}, srcs...)...)
	}
	var idx dicomIndex
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &idx)
	}
	if err != nil || len(idx.Sources) != len(dicomSources) {
		t.Fatalf("dicom reference index: %v (%d sources)", err, len(idx.Sources))
	}
	return idx, dir
}

// TestDICOMMatchesPydicom: every test file in every window mode gives pydicom's pixels
// (apply_modality_lut, apply_voi_lut / apply_windowing, MONOCHROME1 inversion) within one
// level, before and after the shared resize.
func TestDICOMMatchesPydicom(t *testing.T) {
	idx, dir := dicomReference(t)
	modes := map[string]dicom.Window{
		"auto":   {},
		"minmax": {Mode: dicom.WindowMinMax},
		"fixed":  {Mode: dicom.WindowFixed, Center: idx.Fixed[0], Width: idx.Fixed[1]},
	}
	p := preprocess.Preprocessor{Size: 64, Scaling: preprocess.Unit}
	cases := 0
	for k, src := range idx.Sources {
		for _, c := range src.Cases {
			b, err := os.ReadFile(c.File)
			if err != nil {
				t.Fatal(err)
			}
			for mode, w := range modes {
				what := fmt.Sprintf("%d.%s %s", k, c.Name, mode)
				img, info, err := dicom.Decode(b, w)
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				g, ok := img.(*image.Gray)
				if !ok || g.Rect != image.Rect(0, 0, src.Cols, src.Rows) {
					t.Errorf("%s: got a %T of %v, want %d x %d gray", what, img, img.Bounds(), src.Cols, src.Rows)
					continue
				}
				ref, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.%s.%s.bin", k, c.Name, mode)))
				if err != nil {
					t.Fatal(err)
				}
				tol := 1.0
				if c.Name == "jpeg_baseline" && mode == "minmax" {
					// A level of JPEG decoding difference, stretched from min..max to
					// 0..255, can move the min or max itself.
					tol = 3
				}
				approx.Within(t, what+" full size", u8s(g.Pix), u8s(ref), approx.Abs, tol)
				refImg := &image.Gray{Pix: ref, Stride: src.Cols, Rect: g.Rect}
				got, err := p.Pixels(g)
				if err != nil {
					t.Fatal(err)
				}
				want, err := p.Pixels(refImg)
				if err != nil {
					t.Fatal(err)
				}
				approx.Within(t, what+" resized", u8s(got), u8s(want), approx.Abs, tol)
				if info.SOPInstanceUID != c.SOPInstanceUID || info.ViewPosition != "PA" {
					t.Errorf("%s: SOPInstanceUID %q, ViewPosition %q; want %q, PA", what, info.SOPInstanceUID, info.ViewPosition, c.SOPInstanceUID)
				}
				cases++
			}
		}
	}
	if cases < 40 {
		t.Fatalf("compared %d file x window cases, want at least 40", cases)
	}
}

func u8s(b []uint8) []float64 {
	out := make([]float64, len(b))
	for i, v := range b {
		out[i] = float64(v)
	}
	return out
}

// TestDICOMJPEGFrameAsJPEGFile: GDCM's decoding of a JPEG baseline frame equals
// TensorFlow's libjpeg-turbo decoding of the same bytes as a JPEG file
// (preprocess.Decode), bit for bit, so a DICOM-wrapped JPEG reaches the model as the JPEG
// itself would.
func TestDICOMJPEGFrameAsJPEGFile(t *testing.T) {
	b := readDICOM(t, "jpeg_baseline.dcm")
	img, _, err := dicom.Decode(b, dicom.Window{})
	if err != nil {
		t.Fatal(err)
	}
	soi, eoi := bytes.Index(b, []byte{0xFF, 0xD8, 0xFF}), bytes.LastIndex(b, []byte{0xFF, 0xD9})
	if soi < 0 || eoi < soi {
		t.Fatal("jpeg_baseline.dcm: no JPEG stream")
	}
	ref, err := preprocess.Decode(b[soi : eoi+2])
	if err != nil {
		t.Fatal(err)
	}
	g, r := img.(*image.Gray), ref.(*image.Gray)
	if !bytes.Equal(g.Pix, r.Pix) {
		t.Error("the DICOM JPEG frame's pixels differ from the JPEG file's")
	}
}
