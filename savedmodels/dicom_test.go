package savedmodels_test

import (
	"context"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// dicomSameAsSource are the testdata/dicom files made to show their source JPEG's pixels
// (scripts/ref/dicom_make.py): each within a level of it, through 8 and 12..16-bit
// storage, MONOCHROME1, rescale, JPEG encapsulation, big endian and a first frame.
var dicomSameAsSource = []string{"mono2_8bit", "mono1_window", "rescale", "jpeg_baseline", "big_endian", "multiframe"}

// dicomProbTol bounds |p(DICOM) - p(source JPEG)|: the files differ from Go's decoding of
// the JPEG by at most one level on some pixels (Pillow's decoder made them, and 12-bit
// windows round), which moves the tiny model's probabilities by at most this.
const dicomProbTol = 1e-3 // seen 1.5e-4 (mono1_window)

// TestPredictDICOM: PredictFile and PredictBytes recognise DICOM by its content, give the
// prediction of the JPEG each file came from within dicomProbTol, and apply
// Options.DICOMWindow.
func TestPredictDICOM(t *testing.T) {
	dir, m0, sess := exportTiny(t, 128, 3, savedmodels.Metadata{})
	dicomDir := filepath.Join(pyref.RepoRoot(), "testdata", "dicom")
	source := filepath.Join(dicomDir, "source.jpeg")
	requireSensitive(t, liveProbs(t, sess, m0, savedmodelstest.GoPixels(t, preprocess.Preprocessor{Size: 128, Scaling: preprocess.Unit}, savedmodelstest.ReadFiles(t, append(savedmodelstest.Xrays(t, 3), source)))))
	m, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	paths := []string{source}
	for _, n := range dicomSameAsSource {
		paths = append(paths, filepath.Join(dicomDir, n+".dcm"))
	}
	byFile, err := m.PredictFile(context.Background(), paths...)
	if err != nil {
		t.Fatal(err)
	}
	byBytes, err := m.PredictBytes(context.Background(), savedmodelstest.ReadFiles(t, paths)...)
	if err != nil {
		t.Fatal(err)
	}
	want := byFile[0].Probabilities[1]
	for i, p := range paths {
		if byFile[i].Err != nil || !reflect.DeepEqual(byBytes[i], byFile[i]) {
			t.Fatalf("%s: PredictFile %+v, PredictBytes %+v", filepath.Base(p), byFile[i], byBytes[i])
		}
		d := math.Abs(float64(byFile[i].Probabilities[1] - want))
		if math.IsNaN(d) || d > dicomProbTol || byFile[i].Class != byFile[0].Class {
			t.Errorf("%s: p_pneumonia %.6f, class %d; the source JPEG's %.6f, class %d (tolerance %g)",
				filepath.Base(p), byFile[i].Probabilities[1], byFile[i].Class, want, byFile[0].Class, dicomProbTol)
		}
		t.Logf("%s: p_pneumonia %.6f (source %+.2g)", filepath.Base(p), byFile[i].Probabilities[1], byFile[i].Probabilities[1]-want)
	}

	// A fixed window that shows almost nothing: the model sees another image, whether the
	// window is given to Load or was stored in the model at export (training's window).
	darkWindow := dicom.Window{Mode: dicom.WindowFixed, Center: 5000, Width: 100}
	dark := predictDICOMWith(t, dir, savedmodels.Options{DICOMWindow: &darkWindow}, paths[1])
	if slices.Equal(dark, byFile[1].Probabilities) {
		t.Errorf("Options.DICOMWindow had no effect: %v", dark)
	}
	stored := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(stored, sess, m0, savedmodels.Metadata{DICOMWindow: &darkWindow}); err != nil {
		t.Fatal(err)
	}
	if got := predictDICOMWith(t, stored, savedmodels.Options{}, paths[1]); !slices.Equal(got, dark) {
		t.Errorf("model exported with window %v: %v; Load with that window: %v", darkWindow, got, dark)
	}
	if got := predictDICOMWith(t, stored, savedmodels.Options{DICOMWindow: &dicom.Window{}}, paths[1]); !slices.Equal(got, byFile[1].Probabilities) {
		t.Errorf("Options.DICOMWindow auto over the model's window: %v, want the file's own window's %v", got, byFile[1].Probabilities)
	}
}

// predictDICOMWith loads dir with opts and predicts one file.
func predictDICOMWith(t *testing.T, dir string, opts savedmodels.Options, path string) []float32 {
	t.Helper()
	m, err := savedmodels.Load(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.PredictFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Err != nil {
		t.Fatal(got[0].Err)
	}
	return got[0].Probabilities
}

// TestServingBytesRefusesDICOM: serving_bytes, run by TensorFlow, fails on a DICOM file
// with the message that says where DICOM is decoded, and still takes JPEG.
func TestServingBytesRefusesDICOM(t *testing.T) {
	dir, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{})
	sm, err := tf.LoadSavedModel(dir, []string{savedmodels.ServeTag}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Session.Close()
	in, err := smgraph.TensorByName(sm.Graph, smgraph.BytesInputOp+":0")
	if err != nil {
		t.Fatal(err)
	}
	out, err := smgraph.TensorByName(sm.Graph, smgraph.PreprocessMapOp+":0")
	if err != nil {
		t.Fatal(err)
	}
	dicomDir := filepath.Join(pyref.RepoRoot(), "testdata", "dicom")
	run := func(name string) error {
		x, err := tf.NewTensor([]string{string(savedmodelstest.ReadFiles(t, []string{filepath.Join(dicomDir, name)})[0])})
		if err != nil {
			t.Fatal(err)
		}
		_, err = sm.Session.Run(map[tf.Output]*tf.Tensor{in: x}, []tf.Output{out}, nil)
		return err
	}
	if err := run("mono2_8bit.dcm"); err == nil || !strings.Contains(err.Error(), "this is a DICOM file") {
		t.Errorf("serving_bytes on DICOM: %v, want an error saying it is DICOM", err)
	}
	if err := run("source.jpeg"); err != nil {
		t.Errorf("serving_bytes on JPEG: %v", err)
	}
}
