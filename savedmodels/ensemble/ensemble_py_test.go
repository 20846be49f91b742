package ensemble

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

const ttaTol = 1e-5 // views computed in Go's graph vs Python's crop_and_resize and mean

// ensembleCase is one ensemble scripts/ref/ensemble_ref.py checks.
type ensembleCase struct {
	Name     string    `json:"name"`
	Ensemble string    `json:"ensemble"`
	Members  []string  `json:"members"`
	Weights  []float64 `json:"weights"`
	TTA      int       `json:"tta"`
}

type ensembleRefOut map[string]struct {
	Python, Reference struct {
		Default [][]float64   `json:"default"`
		Bytes   [][]float64   `json:"bytes"`
		Heatmap [][][]float64 `json:"heatmap"`
	}
}

// TestEnsemblePython checks ensembles of members of different input sizes and scalings
// (64 px unit, 96 px imagenet: the ensemble's image is 96 px imagenet, resized and
// rescaled per member), with and without views, and one member with all eight views,
// against scripts/ref/ensemble_ref.py: Python TF loads each ensemble and gets Go's
// probabilities, and its three signatures equal what the docs say, computed from the
// members run apart in Python (views by tf.image.crop_and_resize).
func TestEnsemblePython(t *testing.T) {
	a := exportTiny(t, 64, 41, savedmodels.Metadata{})
	b := exportTiny(t, 96, 42, savedmodels.Metadata{Preprocessing: preprocess.ImageNet})
	cases := []ensembleCase{
		{Name: "mixed", Members: []string{a, b}, Weights: []float64{1, 2}, TTA: 1},
		{Name: "mixed-tta3", Members: []string{a, b}, Weights: []float64{1, 1}, TTA: 3},
		{Name: "tta8", Members: []string{a}, Weights: []float64{1}, TTA: len(TTAViews)},
	}
	paths := savedmodelstest.Xrays(t, 5)
	files := savedmodelstest.ReadFiles(t, paths)
	tmp := t.TempDir()
	cfg := map[string]any{"n": len(paths), "files": paths}
	images := map[string]string{}
	pixels := map[string][][]float32{}
	key := []string{"ensemble_ref", pyref.FileHash(t, pyref.Script("ensemble_ref.py"))}
	for i := range cases {
		c := &cases[i]
		c.Ensemble = ensembleT(t, c.Members, Options{Weights: c.Weights, TTA: c.TTA})
		ens := loadT(t, c.Ensemble)
		pixels[c.Name] = savedmodelstest.GoPixels(t, ens.Preprocessor(), files)
		raw := savedmodelstest.RawFloat32(pixels[c.Name])
		images[c.Name] = filepath.Join(tmp, c.Name+".f32")
		if err := os.WriteFile(images[c.Name], raw, 0o644); err != nil {
			t.Fatal(err)
		}
		key = append(key, savedmodelstest.DirHash(t, c.Ensemble), savedmodelstest.HashBytes(raw))
	}
	for _, d := range []string{a, b} {
		key = append(key, savedmodelstest.DirHash(t, d))
	}
	for _, f := range paths {
		key = append(key, pyref.FileHash(t, f))
	}
	cfg["images"], cfg["cases"] = images, cases
	ref := ensembleRef(t, cfg, key)
	for _, c := range cases {
		r, ok := ref[c.Name]
		if !ok {
			t.Fatalf("no reference for %s", c.Name)
		}
		preds, err := loadT(t, c.Ensemble).PredictPixels(context.Background(), pixels[c.Name]...)
		if err != nil {
			t.Fatal(err)
		}
		got := make([][]float32, len(preds))
		for i, p := range preds {
			got[i] = p.Probabilities
		}
		approx.WithinRows(t, c.Name+": Go vs Python, serving_default", got, r.Python.Default, approx.Abs, ensembleTol)
		approx.WithinRows(t, c.Name+": serving_default vs the members' views", got, r.Reference.Default, approx.Abs, ttaTol)
		if c.TTA <= 1 {
			approx.WithinRows(t, c.Name+": serving_bytes vs the members'", r.Python.Bytes, r.Reference.Bytes, approx.Abs, ensembleTol)
		}
		for i := range paths {
			approx.WithinRows(t, c.Name+": serving_gradcam heatmap vs the members' "+paths[i], r.Python.Heatmap[i], r.Reference.Heatmap[i], approx.Abs, ensembleTol)
		}
	}
}

// ensembleRef runs scripts/ref/ensemble_ref.py once on cfg, cached under key.
func ensembleRef(t *testing.T, cfg map[string]any, key []string) ensembleRefOut {
	t.Helper()
	var r ensembleRefOut
	savedmodelstest.CachedReference(t, key, pyref.Script("ensemble_ref.py"), func(tmp, out string) []string {
		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(tmp, "config.json")
		if err := os.WriteFile(cfgPath, js, 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{cfgPath, out}
	}, &r)
	return r
}
