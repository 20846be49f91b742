package savedmodels

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/tfgraph"
)

// xrays returns real chest X-rays from the repository's testdata (Kaggle layout), a few
// of each class and split, sorted, at most n.
func xrays(t testing.TB, n int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "*", "*", "*.jpeg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no X-rays in testdata/chest_xray: %v", err)
	}
	sort.Strings(files)
	// Spread the picks over the sorted list so both classes and all splits appear.
	var out []string
	for i := 0; i < n && i < len(files); i++ {
		out = append(out, files[i*len(files)/min(n, len(files))])
	}
	return out
}

func readFiles(t testing.TB, paths []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// goPixels preprocesses files with the project's one Go preprocessing.
func goPixels(t testing.TB, pre preprocess.Preprocessor, files [][]byte) [][]float32 {
	t.Helper()
	out := make([][]float32, len(files))
	for i, b := range files {
		p, err := pre.Bytes(b)
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		out[i] = p
	}
	return out
}

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
func exportTiny(t testing.TB, size int, seed int64, meta Metadata) (string, *tfgraph.Model, *tf.Session) {
	t.Helper()
	m, sess := tinyModel(t, size, seed)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := Export(dir, sess, m, meta); err != nil {
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
		raw = append(raw, floatBytes(p)...)
	}
	key := []string{"savedmodel_check", pyref.FileHash(t, script), dirHash(t, dir), hashBytes(raw)}
	for _, f := range files {
		key = append(key, pyref.FileHash(t, f))
	}
	var r pyResult
	cachedReference(t, key, script, func(tmp, out string) []string {
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

// cachedReference decodes into v the JSON a reference script writes, cached under key:
// on a miss it runs script with args(tmp, out), tmp a fresh directory and out the file
// the script must write.
func cachedReference(t testing.TB, key []string, script string, args func(tmp, out string) []string, v any) {
	t.Helper()
	cached := filepath.Join(pyref.CacheDir(t, key...), "out.json")
	if _, err := os.Stat(cached); err != nil {
		tmp := t.TempDir()
		out := filepath.Join(tmp, "out.json")
		pyref.Run(t, script, args(tmp, out)...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, cached, b)
	}
	b, err := os.ReadFile(cached)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// dirHash hashes every file under dir (paths and contents).
func dirHash(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeAtomic(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func argmax[F float32 | float64](p []F) int {
	if p[1] > p[0] {
		return 1
	}
	return 0
}
