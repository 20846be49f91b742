package savedmodels_test

import (
	"context"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// The operating threshold stored at export is read back by Load, and Prediction.Decision
// applies it (pneumonia when p_pneumonia >= it); a model without one decides by argmax.
func TestThresholdRoundTrip(t *testing.T) {
	const size = 32
	files := savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 8))
	dir, m, sess := exportTiny(t, size, 11, savedmodels.Metadata{})
	want := liveProbs(t, sess, m, savedmodelstest.GoPixels(t, preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}, files))
	requireSensitive(t, want)
	// a threshold halfway between two neighbouring scores, so rounding cannot flip a side
	p1 := make([]float64, len(want))
	for i, p := range want {
		p1[i] = float64(p[1])
	}
	sorted := slices.Clone(p1)
	slices.Sort(sorted)
	th := decision.Threshold{Rule: decision.Sensitivity(0.9), Value: (sorted[3] + sorted[4]) / 2}

	for _, tc := range []struct {
		name string
		meta savedmodels.Metadata
		want func(i int) int
	}{
		{"none", savedmodels.Metadata{}, func(i int) int { return argmax(want[i]) }},
		{"threshold", savedmodels.Metadata{Threshold: &th}, func(i int) int {
			if p1[i] >= th.Value {
				return 1
			}
			return 0
		}},
	} {
		if tc.meta.Threshold != nil {
			dir, _, _ = exportTiny(t, size, 11, tc.meta)
		}
		model, err := savedmodels.Load(dir, savedmodels.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := model.Metadata().Threshold; (got == nil) != (tc.meta.Threshold == nil) || (got != nil && *got != th) {
			t.Errorf("%s: threshold read back %v, exported %v", tc.name, got, tc.meta.Threshold)
		}
		preds, err := model.PredictBytes(context.Background(), files...)
		model.Close()
		if err != nil {
			t.Fatal(err)
		}
		ones := 0
		for i, p := range preds {
			if p.Decision != tc.want(i) {
				t.Errorf("%s: image %d (p_pneumonia %.4f): decision %d, want %d", tc.name, i, p1[i], p.Decision, tc.want(i))
			}
			ones += p.Decision
		}
		if tc.name == "threshold" && ones != 4 {
			t.Errorf("threshold between the 4th and 5th score: %d pneumonia decisions, want 4", ones)
		}
	}

	bad := savedmodels.Metadata{Threshold: &decision.Threshold{Rule: "median", Value: 0.5}}
	m2, sess2 := tinyModel(t, size, 3)
	if err := export.SavedModel(t.TempDir()+"/sm", sess2, m2, bad); err == nil || !strings.Contains(err.Error(), "unknown threshold rule") {
		t.Errorf("export with rule median: err %v", err)
	}
}
