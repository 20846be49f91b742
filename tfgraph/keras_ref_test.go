package tfgraph

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
)

// The Keras side of the parity tests: scripts/ref/tfgraph_reference.py builds the same
// model in Keras 3 with seeded random weights, runs it on real X-rays and writes
// everything the tests compare to ref.npz + meta.json, cached under pyref.CacheDir by
// script hash, arguments and image hashes. To test another architecture, add a case with
// its name: the script already builds any keras.applications backbone it lists.

const refScript = "tfgraph_reference.py"

// kerasRef is one reference run.
type kerasRef struct {
	meta refMeta
	npz  *npz.Reader
}

type refMeta struct {
	KerasVersion       string             `json:"keras_version"`
	Weights            []refWeight        `json:"weights"`
	CountParams        int64              `json:"count_params"`
	TrainableParams    int64              `json:"trainable_params"`
	NonTrainableParams int64              `json:"non_trainable_params"`
	Layers             []refLayer         `json:"layers"`
	BaseLayers         []string           `json:"base_layers"`
	Initializers       map[string]refInit `json:"initializers"`
	SummaryFooter      []string           `json:"summary_footer"`
	Summary            string             `json:"summary"`
}

type refWeight struct {
	Path  string
	Shape []int64
}

func (w *refWeight) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &w.Path); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &w.Shape)
}

type refLayer struct {
	Name        string   `json:"name"`
	Class       string   `json:"class"`
	OutputShape []int64  `json:"output_shape"`
	Params      int64    `json:"params"`
	Inbound     []string `json:"inbound"`
}

type refInit struct {
	Uniform  *float64 `json:"uniform"`
	Constant *float64 `json:"constant"`
}

// testImages are two NORMAL and two PNEUMONIA X-rays: from testdata/chest_xray, else
// from the shared Kermany sample beside the repository.
func testImages(t *testing.T) []string {
	t.Helper()
	root := pyref.RepoRoot()
	for _, dir := range []string{filepath.Join(root, "testdata", "chest_xray"), filepath.Join(root, "..", "shared", "data", "kermany-224", "train")} {
		byClass := map[string][]string{}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(strings.ToLower(p), ".jpeg") {
				class := filepath.Base(filepath.Dir(p))
				byClass[class] = append(byClass[class], p)
			}
			return nil
		})
		if len(byClass["NORMAL"]) >= 2 && len(byClass["PNEUMONIA"]) >= 2 {
			slices.Sort(byClass["NORMAL"])
			slices.Sort(byClass["PNEUMONIA"])
			return append(byClass["NORMAL"][:2:2], byClass["PNEUMONIA"][:2]...)
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no X-ray images in testdata/chest_xray or ../shared/data/kermany-224/train")
	}
	t.Skip("no X-ray images in testdata/chest_xray or ../shared/data/kermany-224/train")
	return nil
}

// kerasReference runs (or finds cached) the reference for one model configuration.
func kerasReference(t *testing.T, cfg Config) *kerasRef {
	t.Helper()
	script := pyref.Script(refScript)
	images := testImages(t)
	args := []string{"--arch", cfg.Arch, "--size", strconv.Itoa(cfg.InputSize), "--pool", cfg.Pool}
	key := append([]string{refScript, pyref.FileHash(t, script)}, args...)
	for _, p := range images {
		key = append(key, pyref.FileHash(t, p))
	}
	dir := pyref.CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err != nil {
		pyref.Run(t, script, append(append(args, "--out", dir), images...)...)
	}
	ref := &kerasRef{}
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref.meta); err != nil {
		t.Fatalf("meta.json: %v", err)
	}
	ref.npz, err = npz.Open(filepath.Join(dir, "ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.npz.Close() })
	return ref
}

// kerasSizesWork asks Keras, for each input side, whether the model builds with a
// non-empty 4x4-pooled feature map.
func kerasSizesWork(t *testing.T, arch string, sizes ...int) map[string]bool {
	t.Helper()
	script := pyref.Script(refScript)
	args := []string{"--arch", arch, "--probe-sizes"}
	for _, s := range sizes {
		args = append(args, strconv.Itoa(s))
	}
	dir := pyref.CacheDir(t, append([]string{refScript, pyref.FileHash(t, script)}, args...)...)
	file := filepath.Join(dir, "sizes.json")
	b, err := os.ReadFile(file)
	if err != nil {
		b = pyref.Run(t, script, args...)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var works map[string]bool
	if err := json.Unmarshal(b, &works); err != nil {
		t.Fatalf("probe sizes %q: %v", b, err)
	}
	return works
}

// raw reads one little-endian float32 array of the reference: its bytes and shape.
// (npy.Reader.Read goes element by element through the unbuffered zip stream, seconds for
// the 16 MB dense kernel; the header is parsed by npyio and the data taken whole.)
func (r *kerasRef) raw(t *testing.T, name string) ([]byte, []int64) {
	t.Helper()
	rc, err := r.npz.Open(name + ".npy")
	if err != nil {
		t.Fatalf("reference array %s: %v", name, err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	nr, err := npy.NewReader(br)
	if err != nil {
		t.Fatalf("reference array %s: %v", name, err)
	}
	h := nr.Header.Descr
	if strings.Trim(h.Type, `'"`) != "<f4" || h.Fortran {
		t.Fatalf("reference array %s: dtype %s fortran=%v, want C-order <f4", name, h.Type, h.Fortran)
	}
	data, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reference array %s: %v", name, err)
	}
	shape := make([]int64, len(h.Shape))
	for i, d := range h.Shape {
		shape[i] = int64(d)
	}
	if int64(len(data)) != 4*numElements(shape) {
		t.Fatalf("reference array %s: %d bytes for shape %v", name, len(data), shape)
	}
	return data, shape
}

// array reads one float32 array of the reference.
func (r *kerasRef) array(t *testing.T, name string) ([]float32, []int64) {
	t.Helper()
	data, shape := r.raw(t, name)
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out, shape
}

// tensor reads one reference array as a TensorFlow tensor.
func (r *kerasRef) tensor(t *testing.T, name string) *tf.Tensor {
	t.Helper()
	data, shape := r.raw(t, name)
	tt, err := tf.ReadTensor(tf.Float, shape, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tt
}

// floats flattens a float32 tensor.
func floats(t *testing.T, tt *tf.Tensor) []float32 {
	t.Helper()
	out, err := Floats(tt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// within compares got (a Go tensor) with the reference array name, shapes included,
// failing t beyond tol |Go - Keras| or on NaN/Inf.
func (r *kerasRef) within(t *testing.T, name string, got *tf.Tensor, tol float64) approx.Diff {
	t.Helper()
	want, shape := r.array(t, name)
	if !slices.Equal(got.Shape(), shape) {
		t.Fatalf("%s: shape %v, Keras %v", name, got.Shape(), shape)
	}
	return approx.Within(t, name, floats(t, got), want, approx.Abs, tol)
}
