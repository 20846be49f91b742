package dicom_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess/dicom"
)

// corpusIndex is scripts/ref/dicom_corpus.py's index.json.
type corpusIndex struct {
	Pydicom string
	Files   []struct {
		Name, Path, TS, Kind, Reason, Photometric string
		SOPClass                                  string `json:"sop_class"`
		Frames, Rows, Cols                        int
	}
}

// lossyDCT are the transfer syntaxes whose decoders may differ: ISO/IEC 10918-2 lets a
// conforming JPEG DCT decoder's output differ from the reference by one level.
var lossyDCT = map[string]bool{"1.2.840.10008.1.2.4.50": true, "1.2.840.10008.1.2.4.51": true}

// xrayRefuses are the files of pydicom's corpus that pydicom decodes and xray refuses on
// purpose, with the word its error must hold.
var xrayRefuses = map[string]string{
	"examples_palette.dcm": "PALETTE COLOR", // palette colour is not an X-ray
}

// damaged are the corpus's damaged files without pixel data, with the word xray's
// ErrDamaged must hold (pydicom reads what it can of them).
var damaged = map[string]string{"rtplan_truncated.dcm": "truncated file"}

// TestDICOMCorpusMatchesPydicom: every image of pydicom's own test corpus that pydicom
// decodes (and each syntax the corpus lacks, made by dcmtk from testdata) comes out of xray
// with pydicom's pixels (frame 0, before windowing): stored
// values bit-identical for lossless syntaxes and JPEG-LS/JPEG 2000 (the same standard's
// exact decoding), within one level for DCT JPEG; colour made gray within one level of
// PIL's convert("L") of pydicom's RGB. Files without pixel data give *NoImageError naming
// their SOP class; what pydicom cannot read, xray refuses without panicking.
func TestDICOMCorpusMatchesPydicom(t *testing.T) {
	script := pyref.Script("dicom_corpus.py")
	key := []string{"dicom_corpus", pyref.FileHash(t, script)}
	var sources []string // compressed by dcmtk into the syntaxes the corpus lacks
	for _, name := range []string{"mono1_window.dcm", "rescale.dcm", "mono2_8bit.dcm"} {
		p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "dicom", name))
		if err != nil {
			t.Fatal(err)
		}
		sources, key = append(sources, p), append(key, pyref.FileHash(t, p))
	}
	dir := pyref.CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		pyref.Run(t, script, append([]string{dir}, sources...)...)
	}
	var idx corpusIndex
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &idx)
	}
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, f := range idx.Files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		got, info, err := dicom.StoredValues(b)
		switch {
		case f.Kind == "noimage":
			var ni *dicom.NoImageError
			if errors.As(err, &ni) && ni.SOPClassUID == f.SOPClass {
				count["no image, said so"]++
			} else if errors.Is(err, dicom.ErrDamaged) && strings.Contains(err.Error(), damaged[f.Name]) {
				count["no image, damaged"]++
			} else if !dicom.Is(b) && !strings.HasSuffix(f.Name, ".dcm") {
				count["not DICOM"]++ // the corpus's README, JSON, ICC profile, gzip
			} else if f.SOPClass == "" && errors.Is(err, dicom.ErrNotDICOM) {
				count["no SOP class, not DICOM to xray"]++ // force=True reads garbage
			} else {
				t.Errorf("%s (no pixel data, SOP class %q): %v; want a *NoImageError naming it", f.Name, f.SOPClass, err)
			}
		case f.Kind == "refused":
			count["pydicom refuses"]++
			if err == nil {
				count["pydicom refuses, xray decodes"]++
			}
			t.Logf("%s: pydicom: %s; xray: %v", f.Name, f.Reason, err)
		case xrayRefuses[f.Name] != "":
			if !errors.Is(err, dicom.ErrUnsupported) || !strings.Contains(err.Error(), xrayRefuses[f.Name]) {
				t.Errorf("%s: %v; want ErrUnsupported saying %s", f.Name, err, xrayRefuses[f.Name])
			}
			count["xray refuses on purpose"]++
		case err != nil:
			t.Errorf("%s (%s, %s): pydicom decodes it, xray: %v", f.Name, f.TS, f.Photometric, err)
		default:
			compareCorpusFile(t, dir, f.Name, f.TS, f.Kind, got, info, f.Rows, f.Cols)
			count["decoded, "+f.Kind]++
		}
	}
	t.Logf("pydicom %s corpus, %d files: %v", idx.Pydicom, len(idx.Files), count)
	if count["decoded, mono"] < 40 || count["decoded, colour"] < 25 || count["no image, said so"] < 10 {
		t.Errorf("compared too few files: %v", count)
	}
}

// compareCorpusFile compares xray's frame 0 (dicom.StoredValues) with pydicom's.
func compareCorpusFile(t *testing.T, dir, name, ts, kind string, got []float64, info dicom.Info, rows, cols int) {
	t.Helper()
	ref, err := os.ReadFile(filepath.Join(dir, name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != rows || info.Columns != cols {
		t.Errorf("%s: %d x %d, pydicom %d x %d", name, info.Columns, info.Rows, cols, rows)
		return
	}
	var want []float64
	if kind == "colour" {
		want = u8s(ref)
	} else {
		for i := 0; i+8 <= len(ref); i += 8 {
			want = append(want, float64(int64(binary.LittleEndian.Uint64(ref[i:]))))
		}
	}
	// Colour adds a level for YCbCr to RGB rounding (libjpeg's tables here, pydicom's
	// float matrix there), and DCT's one level grows through that conversion and luma.
	tol := 0.0
	if kind == "colour" {
		tol = 1
	}
	if lossyDCT[ts] {
		tol = 2 * tol
		tol = max(tol, 1)
	}
	approx.Within(t, name+" "+ts, got, want, approx.Abs, tol)
}
