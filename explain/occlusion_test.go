package explain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// TestOcclusionMatchesPython compares the drop map of a real X-ray, for the predicted
// class and for a named one, with scripts/ref/occlusion_ref.py (the SavedModel's
// serving_default in Python TensorFlow, the patches in numpy), with a stride that leaves
// the last rows and columns uncovered.
func TestOcclusionMatchesPython(t *testing.T) {
	const size = 32
	m, sess := savedmodelstest.TinyModel(t, size, 21)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	files, _ := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "test", "PNEUMONIA", "*.jpeg"))
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := preprocess.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	x, err := model.Preprocessor().Floats(img)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "x.f32")
	if err := os.WriteFile(raw, unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x)), 0o644); err != nil {
		t.Fatal(err)
	}
	const patch, stride = 8, 5 // corners 0, 5, ..., 20: rows 28..31 uncovered
	cases := []struct {
		name string
		id   int
	}{{"", -1}, {"pneumonia", 1}}
	// Cached by the script, the model's files and the image (exports are deterministic).
	key := []string{"occlusion_ref", pyref.FileHash(t, pyref.Script("occlusion_ref.py")), pyref.FileHash(t, raw),
		pyref.FileHash(t, filepath.Join(dir, "saved_model.pb")), pyref.FileHash(t, filepath.Join(dir, "variables", "variables.data-00000-of-00001"))}
	ref := pyref.CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(ref, "drop1.npy")); err != nil {
		pyref.Run(t, pyref.Script("occlusion_ref.py"), dir, raw, "-1,1", strconv.Itoa(patch), strconv.Itoa(stride), ref)
	}
	for i, c := range cases {
		got, err := Occlusion(context.Background(), model, img, OcclusionOptions{Patch: patch, Stride: stride, Class: c.name, Batch: 7})
		if err != nil {
			t.Fatal(err)
		}
		shape, want := pyref.ReadNpy(t, filepath.Join(ref, "drop"+strconv.Itoa(i)+".npy"))
		if len(shape) != 2 || shape[0] != size || shape[1] != size {
			t.Fatalf("reference map of shape %v", shape)
		}
		if lo, hi := slices.Min(want), slices.Max(want); hi-lo < 1e-5 {
			t.Fatalf("reference map spans only [%g, %g]: the test model is insensitive", lo, hi)
		}
		d := approx.Within(t, "occlusion drop map vs Python", got.Drop, want, approx.Abs, 1e-6)
		t.Logf("class %q: %v", c.name, d)
		if c.id >= 0 && got.Explained != c.id {
			t.Errorf("explained %d, want %d", got.Explained, c.id)
		}
	}
	if _, err := Occlusion(context.Background(), model, img, OcclusionOptions{Patch: 64}); !errors.Is(err, ErrBadPatch) {
		t.Errorf("patch 64 on a 32 px model: %v", err)
	}
}
