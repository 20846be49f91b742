package savedmodels_test

import (
	"context"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

// TestExplainNonEmpty: on every X-ray of testdata (161, both classes), a MobileNet at
// 128 px (4 x 4 feature map) explained by the default method, the logit margin, gives a
// non-empty map for at least 99 % of the predicted classes, and says why for any empty
// one; plain Grad-CAM (--method gradcam, added to the loaded graph) is measured beside it
// and every empty plain map names the margin method. The margin's heatmaps themselves
// equal Keras's tape (tfgraph TestGradCAMMatchesKeras, margin/ rows); on a trained model
// docs/explain.md gives the measured fractions.
func TestExplainNonEmpty(t *testing.T) {
	m, sess := mobileNet(t, 128)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if got := model.Metadata().GradCAM; got != tfgraph.CAMMargin {
		t.Errorf("Metadata.GradCAM %q, want %q", got, tfgraph.CAMMargin)
	}
	images := decodeAll(t, savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 1000)))
	ctx := context.Background()
	frac := map[string]float64{}
	for _, method := range []string{"", tfgraph.CAMGradCAM} {
		ex, err := model.ExplainWith(ctx, savedmodels.ExplainOptions{Method: method}, images...)
		if err != nil {
			t.Fatal(err)
		}
		nonEmpty := 0
		for i, e := range ex {
			if e.Err != nil || e.Method != methodOrDefault(method) {
				t.Fatalf("image %d: err %v, method %q, want %q", i, e.Err, e.Method, methodOrDefault(method))
			}
			_, _, peak := e.Peak()
			switch {
			case peak > 0 && e.Empty == "":
				nonEmpty++
			case peak > 0 || e.Empty == "":
				t.Errorf("image %d (%s): peak %v but Empty %q", i, method, peak, e.Empty)
			case method == tfgraph.CAMGradCAM && !strings.Contains(e.Empty, "method margin"):
				t.Errorf("image %d: plain Grad-CAM empty, reason %q does not name the margin method", i, e.Empty)
			}
		}
		frac[methodOrDefault(method)] = float64(nonEmpty) / float64(len(ex))
	}
	t.Logf("non-empty maps over %d X-rays: margin %.4f, plain Grad-CAM %.4f", len(images), frac[tfgraph.CAMMargin], frac[tfgraph.CAMGradCAM])
	if frac[tfgraph.CAMMargin] < 0.99 {
		t.Errorf("margin: %.4f of the maps non-empty, want >= 0.99", frac[tfgraph.CAMMargin])
	}
}

func methodOrDefault(method string) string {
	if method == "" {
		return tfgraph.DefaultCAM
	}
	return method
}
