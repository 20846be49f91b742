package savedmodels_test

import (
	"fmt"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"os"
	"path/filepath"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

// batchTensor stacks HWC float32 images into [N, S, S, 3].
func batchTensor(t testing.TB, size int, images [][]float32) *tf.Tensor {
	t.Helper()
	var flat []float32
	for _, p := range images {
		flat = append(flat, p...)
	}
	x, err := tf.NewTensor(flat)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Reshape([]int64{int64(len(images)), int64(size), int64(size), 3}); err != nil {
		t.Fatal(err)
	}
	return x
}

// liveProbs runs the live graph's inference path: the reference every export must match.
func liveProbs(t testing.TB, sess *tf.Session, m *tfgraph.Model, images [][]float32) [][]float32 {
	t.Helper()
	out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: batchTensor(t, m.Config.InputSize, images)}, []tf.Output{m.Probs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Value().([][]float32)
}

// exportTiny exports a seeded tiny model and returns it with its live session.
func exportTiny(t testing.TB, size int, seed int64, meta savedmodels.Metadata) (string, *tfgraph.Model, *tf.Session) {
	t.Helper()
	m, sess := tinyModel(t, size, seed)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, meta); err != nil {
		t.Fatal(err)
	}
	return dir, m, sess
}

// pyResult is scripts/ref/savedmodel_check.py's output.
type pyResult struct {
	Default, Bytes struct {
		Probabilities [][]float64 `json:"probabilities"`
		ClassID       []int       `json:"class_id"`
	}
	GradCAM struct {
		Probabilities [][]float64   `json:"probabilities"`
		ClassID       []int         `json:"class_id"`
		Heatmap       [][][]float64 `json:"heatmap"`
	} `json:"gradcam"`
	GradCAMPixels struct {
		Heatmap [][][]float64 `json:"heatmap"`
	} `json:"gradcam_pixels"`
	Variables []struct {
		Name      string  `json:"name"`
		Shape     []int64 `json:"shape"`
		Trainable bool    `json:"trainable"`
	} `json:"variables"`
	Checkpoint [][]any `json:"checkpoint"`
	Signatures map[string]struct {
		Inputs, Outputs map[string]struct {
			Dtype string  `json:"dtype"`
			Shape []int64 `json:"shape"`
		}
	} `json:"signatures"`
}

// pythonCheck loads dir with Python TensorFlow, runs serving_default on images and
// serving_bytes on files. Exports are deterministic, so the result is cached under a key
// of the script, the SavedModel's files and the inputs.
func pythonCheck(t testing.TB, dir string, images [][]float32, files []string) *pyResult {
	t.Helper()
	script := pyref.Script("savedmodel_check.py")
	var raw []byte
	for _, p := range images {
		raw = append(raw, savedmodels.FloatBytes(p)...)
	}
	key := []string{"savedmodel_check", pyref.FileHash(t, script), savedmodelstest.DirHash(t, dir), savedmodelstest.HashBytes(raw)}
	for _, f := range files {
		key = append(key, pyref.FileHash(t, f))
	}
	var r pyResult
	savedmodelstest.CachedReference(t, key, script, func(tmp, out string) []string {
		args := []string{dir, out}
		if len(images) > 0 {
			rawPath := filepath.Join(tmp, "images.f32")
			if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--images", rawPath, fmt.Sprint(len(images)))
		}
		return append(args, files...)
	}, &r)
	return &r
}

func argmax[F float32 | float64](p []F) int {
	if p[1] > p[0] {
		return 1
	}
	return 0
}
