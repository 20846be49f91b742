package trainer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
)

// After training, the operating threshold is chosen on the validation split with the
// best weights and stored in the SavedModel: it equals the rule applied to what the
// exported model itself predicts on those images.
func TestOperatingThresholdStored(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Epochs, cfg.Threshold = 1, "sensitivity:0.5"
	cfg.DICOMWindow = dicom.Window{Mode: dicom.WindowFixed, Center: 2048, Width: 4096}
	var log bytes.Buffer
	cfg.Logger = progress.Lines(&log, "")
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "operating threshold: sensitivity:0.5 at ") {
		t.Errorf("the log does not report the threshold:\n%s", log.String())
	}
	model, err := savedmodels.Load(res.SavedModel, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if w := model.Metadata().DICOMWindow; w == nil || *w != cfg.DICOMWindow {
		t.Errorf("stored DICOM window %v, trained with %v", w, cfg.DICOMWindow)
	}
	stored := model.Metadata().Threshold
	if stored == nil || stored.Rule != decision.Sensitivity(0.5) {
		t.Fatalf("stored threshold %v, want rule sensitivity:0.5", stored)
	}
	m, err := dataset.ReadManifest(cfg.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	var truth []int
	var files [][]byte
	for _, e := range m.Subset(dataset.Val) {
		b, err := e.ReadFile(m.Root)
		if err != nil {
			t.Fatal(err)
		}
		truth, files = append(truth, e.Label), append(files, b)
	}
	preds, err := model.PredictBytes(context.Background(), files...)
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float64, len(preds))
	for i, p := range preds {
		scores[i] = float64(p.Probabilities[labels.Pneumonia])
	}
	want, err := stored.Rule.Choose(truth, scores)
	if err != nil {
		t.Fatal(err)
	}
	approx.Within(t, fmt.Sprintf("stored threshold (the rule on the exported model's validation scores %v)", scores),
		[]float64{stored.Value}, []float64{want.Value}, approx.Abs, 1e-5)
	for i, p := range preds {
		if p.Decision != stored.Class([2]float64{float64(p.Probabilities[0]), float64(p.Probabilities[1])}) {
			t.Errorf("image %d: decision %d disagrees with the stored threshold", i, p.Decision)
		}
	}

	bad := cfg
	bad.Threshold = "median"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "unknown threshold rule") {
		t.Errorf("threshold median: err %v", err)
	}
}
