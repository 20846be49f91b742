package serve

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels"
)

// TestServeDICOM: /v1/classify and :predict with serving_bytes take DICOM files, decoded
// in Go with Config.DICOMWindow, and answer what the Go API answers for them.
func TestServeDICOM(t *testing.T) {
	f := newFixture(t, 1)
	files := []string{"mono1_window.dcm", "jpeg_baseline.dcm"}
	var blobs [][]byte
	for _, n := range files {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "dicom", n))
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	names := labels.Default().Names()
	for _, w := range []dicom.Window{{}, {Mode: dicom.WindowFixed, Center: 3000, Width: 500}} {
		m, err := savedmodels.Load(f.versions[1].dir, savedmodels.Options{DICOMWindow: &w})
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.PredictBytes(context.Background(), blobs...)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, hs := f.start(t, Config{DICOMWindow: &w})
		var rows predictions
		body := mustJSON(t, map[string]any{"signature_name": savedmodels.SignatureBytes, "instances": b64s(blobs)})
		if code, b := do(t, "POST", hs.URL+"/v1/models/xray:predict", "application/json", body, &rows); code != 200 || len(rows.Predictions) != len(blobs) {
			t.Fatalf("window %v: :predict %d %s", w, code, b)
		}
		for i, b := range blobs {
			if want[i].Err != nil {
				t.Fatalf("%s: %v", files[i], want[i].Err)
			}
			var got classification
			if code, body := do(t, "POST", hs.URL+"/v1/classify", "application/dicom", b, &got); code != 200 {
				t.Fatalf("window %v: %s: %d %s", w, files[i], code, body)
			}
			p := want[i].Probabilities[:]
			approx.Within(t, files[i]+" /v1/classify", []float32{got.Probabilities[names[0]], got.Probabilities[names[1]]}, p, approx.Abs, 1e-6)
			approx.Within(t, files[i]+" :predict", rows.Predictions[i].Probabilities, p, approx.Abs, 1e-6)
		}
	}
}
