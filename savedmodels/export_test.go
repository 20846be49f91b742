package savedmodels_test

import (
	"context"
	"fmt"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"image"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	tg "github.com/galeone/tfgo"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

// roundTripTol bounds |exported - live| for the probabilities. The export runs the
// same ops on the same weights, so in practice the difference is 0.
const roundTripTol = 1e-5

// TestExportRoundTrip exports a model, loads it back in Go (this package and tfgo) and in
// Python TensorFlow, and compares every path with the live graph on the same
// Go-preprocessed X-rays.
func TestExportRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		model func(t *testing.T) (*tfgraph.Model, *tf.Session)
	}{
		{"tiny-32", func(t *testing.T) (*tfgraph.Model, *tf.Session) { return tinyModel(t, 32, 7) }},
		{"mobilenet-128", func(t *testing.T) (*tfgraph.Model, *tf.Session) { return mobileNet(t, 128) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, sess := c.model(t)
			size := m.Config.InputSize
			dir := filepath.Join(t.TempDir(), "savedmodel")
			if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "run-" + c.name}); err != nil {
				t.Fatal(err)
			}
			paths := savedmodelstest.Xrays(t, 6)
			files := savedmodelstest.ReadFiles(t, paths)
			pre := preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}
			pixels := savedmodelstest.GoPixels(t, pre, files)
			live := liveProbs(t, sess, m, pixels)
			requireSensitive(t, live)

			// This package: Load + Predict on decoded images.
			model, err := savedmodels.Load(dir, savedmodels.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer model.Close()
			images := make([]image.Image, len(files))
			for i, b := range files {
				if images[i], err = preprocess.Decode(b); err != nil {
					t.Fatal(err)
				}
			}
			preds, err := model.Predict(context.Background(), images...)
			if err != nil {
				t.Fatal(err)
			}
			got := make([][]float32, len(preds))
			for i, p := range preds {
				if p.Err != nil {
					t.Fatalf("%s: %v", paths[i], p.Err)
				}
				got[i] = p.Probabilities[:]
				if p.Class != argmax(live[i]) || p.Label != labels.Default().Name(p.Class) {
					t.Errorf("%s: class %d %q, live argmax %d", paths[i], p.Class, p.Label, argmax(live[i]))
				}
			}
			approx.WithinRows(t, "Predict vs live graph", got, live, approx.Abs, roundTripTol)
			meta := model.Metadata()
			if meta.Arch != m.Config.Arch || meta.InputSize != size || meta.RunID != "run-"+c.name || meta.Preprocessing != preprocess.Unit {
				t.Errorf("metadata %+v does not describe the exported model", meta)
			}

			// tfgo.
			tm := tg.LoadModel(dir, []string{savedmodels.ServeTag}, nil)
			res := tm.Exec([]tf.Output{tm.Op(m.Probs.Op.Name(), m.Probs.Index)},
				map[tf.Output]*tf.Tensor{tm.Op(m.Input.Op.Name(), 0): batchTensor(t, size, pixels)})
			approx.WithinRows(t, "tfgo vs live graph", res[0].Value().([][]float32), live, approx.Abs, roundTripTol)

			// Python TensorFlow.
			py := pythonCheck(t, dir, pixels, paths)
			approx.WithinRows(t, "Python serving_default vs live graph", py.Default.Probabilities, live, approx.Abs, roundTripTol)
			for i, c := range py.Default.ClassID {
				if c != argmax(live[i]) {
					t.Errorf("Python class_id[%d] = %d, live argmax %d", i, c, argmax(live[i]))
				}
			}
			// serving_bytes on the same files in Python: the in-graph preprocessing against Go's.
			d := approx.WithinRows(t, "Python serving_bytes vs live graph on Go-preprocessed pixels", py.Bytes.Probabilities, live, approx.Abs, bytesProbTol)
			t.Logf("Python serving_bytes vs live graph on Go-preprocessed pixels: %v", d)
			checkExplain(t, model, sess, m, images, pixels, py)
			checkPythonSignatures(t, py, size, 2)
			checkPythonVariables(t, py, m)
			checkSavedModelCLI(t, dir, size)
		})
	}
}

// mobileNet builds MobileNet + the paper's head with random weights that keep the signal
// alive through all layers (He-normal by true fan-in; Keras's initial weights make the
// depthwise kernels so small that every input gives the same output), and
// BatchNormalization statistics off their initial 0 and 1 so they matter.
// (savedmodelstest.Backbone draws differently: with it this model came out insensitive at
// 128 px, p(pneumonia) constant to 1e-7 over the X-rays, which TestExportRoundTrip's
// requireSensitive refuses.)
func mobileNet(t *testing.T, size int) (*tfgraph.Model, *tf.Session) {
	t.Helper()
	m, err := tfgraph.Build(tfgraph.Config{Arch: tfgraph.MobileNet, InputSize: size, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	rng := rand.New(rand.NewSource(3))
	vals := map[string]*tf.Tensor{}
	for _, v := range m.Variables {
		var f func() float64
		switch v.Weight {
		case "kernel", "depthwise_kernel":
			fanIn := int64(1)
			for _, d := range v.Shape[:len(v.Shape)-1] {
				fanIn *= d
			}
			if len(v.Shape) == 4 && v.Shape[3] == 1 { // depthwise: each channel sees kh*kw inputs
				fanIn = v.Shape[0] * v.Shape[1]
			}
			sd := math.Sqrt(2 / float64(fanIn))
			f = func() float64 { return sd * rng.NormFloat64() }
		case "moving_variance", "gamma":
			f = func() float64 { return 0.8 + 0.4*rng.Float64() }
		default: // moving_mean, beta, bias
			f = func() float64 { return 0.05 * rng.NormFloat64() }
		}
		x := make([]float32, v.NumElements())
		for i := range x {
			x[i] = float32(f())
		}
		tt, err := tf.NewTensor(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.Reshape(v.Shape); err != nil {
			t.Fatal(err)
		}
		vals[v.Name] = tt
	}
	if err := tfgraph.SetValues(sess, m.Variables, vals); err != nil {
		t.Fatal(err)
	}
	return m, sess
}

// requireSensitive fails when the model gives (nearly) the same output for every
// image, or none, or a NaN: comparisons against such a model could not fail.
func requireSensitive(t testing.TB, live [][]float32) {
	t.Helper()
	lo, hi := 1.0, 0.0
	for _, p := range live {
		lo, hi = math.Min(lo, float64(p[1])), math.Max(hi, float64(p[1])) // NaN propagates
	}
	if !(hi-lo >= 1e-3) {
		t.Fatalf("test model is insensitive: p(pneumonia) spans only [%g, %g] over the images", lo, hi)
	}
}

func checkPythonSignatures(t *testing.T, py *pyResult, size, classes int) {
	t.Helper()
	type spec struct {
		dtype string
		shape string
	}
	want := map[string]map[string]spec{
		savedmodels.SignatureDefault: {"in:" + savedmodels.InputImage: {"float32", fmt.Sprint([]int64{-1, int64(size), int64(size), 3})}},
		savedmodels.SignatureBytes:   {"in:" + savedmodels.InputImageBytes: {"string", "[-1]"}},
		savedmodels.SignatureGradCAM: {"in:" + savedmodels.InputImageBytes: {"string", "[-1]"}, "out:" + savedmodels.OutputHeatmap: {"float32", fmt.Sprint([]int64{-1, int64(size), int64(size)})}},
	}
	for name, w := range want {
		w["out:"+savedmodels.OutputProbabilities] = spec{"float32", fmt.Sprint([]int64{-1, int64(classes)})}
		w["out:"+savedmodels.OutputClassID] = spec{"int64", "[-1]"}
		sig, ok := py.Signatures[name]
		if !ok {
			t.Errorf("Python sees no signature %s (has %v)", name, keys(py.Signatures))
			continue
		}
		got := map[string]spec{}
		for k, v := range sig.Inputs {
			got["in:"+k] = spec{v.Dtype, fmt.Sprint(v.Shape)}
		}
		for k, v := range sig.Outputs {
			got["out:"+k] = spec{v.Dtype, fmt.Sprint(v.Shape)}
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("Python signature %s = %v, want %v", name, got, w)
		}
	}
}

// checkPythonVariables: the loader lifted every variable, and the checkpoint keys are the
// Keras names with the variables' shapes.
func checkPythonVariables(t *testing.T, py *pyResult, m *tfgraph.Model) {
	t.Helper()
	if len(py.Variables) != len(m.Variables) {
		t.Errorf("Python loaded %d variables, the model has %d", len(py.Variables), len(m.Variables))
	}
	var wantTrainable, gotTrainable int
	for _, v := range m.Variables {
		if v.Trainable {
			wantTrainable++
		}
	}
	for _, v := range py.Variables {
		if v.Trainable {
			gotTrainable++
		}
	}
	if gotTrainable != wantTrainable {
		t.Errorf("Python sees %d trainable variables, want %d", gotTrainable, wantTrainable)
	}
	// Python names the variables by their handle ops, which carry the Keras names.
	want := make([]string, len(m.Variables))
	for i, v := range m.Variables {
		want[i] = fmt.Sprintf("%s:0 %v", v.Name, v.Shape)
	}
	got := make([]string, len(py.Variables))
	for i, v := range py.Variables {
		got[i] = fmt.Sprintf("%s %v", v.Name, v.Shape)
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Python's variables:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	want = make([]string, len(m.Variables))
	for i, v := range m.Variables {
		want[i] = fmt.Sprintf("%s %v", v.Name, v.Shape)
	}
	got = make([]string, len(py.Checkpoint))
	for i, kv := range py.Checkpoint {
		got[i] = fmt.Sprintf("%v %v", kv[0], kv[1])
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checkpoint keys:\n%s\nwant the variables:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// checkSavedModelCLI runs `saved_model_cli show --dir DIR --all` and checks both
// signatures' inputs and outputs as it prints them.
func checkSavedModelCLI(t *testing.T, dir string, size int) {
	t.Helper()
	py := pyref.Require(t)
	cli := filepath.Join(filepath.Dir(py), "saved_model_cli")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("saved_model_cli next to %s: %v", py, err)
	}
	// Cached like the Python results: the output is a function of the files.
	cached := filepath.Join(pyref.CacheDir(t, "saved_model_cli show --all", savedmodelstest.DirHash(t, dir)), "show.txt")
	out, err := os.ReadFile(cached)
	if err != nil {
		cmd := exec.Command(cli, "show", "--dir", dir, "--all")
		cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=")
		if out, err = cmd.Output(); err != nil {
			t.Fatalf("saved_model_cli show --dir %s --all: %v", dir, err)
		}
		savedmodelstest.WriteAtomic(t, cached, out)
	}
	// signature_def['NAME']: ... inputs['KEY'] tensor_info: dtype: D shape: S ...
	sigRe := regexp.MustCompile(`signature_def\['([^']+)'\]:`)
	tensorRe := regexp.MustCompile(`(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\S+)\s+shape: (\([^)]*\))`)
	got := map[string][]string{}
	locs := sigRe.FindAllStringSubmatchIndex(string(out), -1)
	for i, l := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		name := string(out[l[2]:l[3]])
		for _, m := range tensorRe.FindAllStringSubmatch(string(out[l[1]:end]), -1) {
			got[name] = append(got[name], strings.Join(m[1:], " "))
		}
		sort.Strings(got[name])
	}
	outputs := []string{"outputs class_id DT_INT64 (-1)", "outputs probabilities DT_FLOAT (-1, 2)"}
	want := map[string][]string{
		savedmodels.SignatureDefault: append([]string{fmt.Sprintf("inputs image DT_FLOAT (-1, %d, %d, 3)", size, size)}, outputs...),
		savedmodels.SignatureBytes:   append([]string{"inputs image_bytes DT_STRING (-1)"}, outputs...),
		savedmodels.SignatureGradCAM: {"inputs image_bytes DT_STRING (-1)", outputs[0], fmt.Sprintf("outputs heatmap DT_FLOAT (-1, %d, %d)", size, size), outputs[1]},
	}
	for name, w := range want {
		if fmt.Sprint(got[name]) != fmt.Sprint(w) {
			t.Errorf("saved_model_cli shows %s as %q, want %q\n%s", name, got[name], w, out)
		}
	}
	if len(got) != len(want) {
		t.Errorf("saved_model_cli shows signatures %v, want exactly %v", keys(got), keys(want))
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// TestExportReplace: exporting over an existing SavedModel replaces it whole; a failed
// export leaves it as it was and no temporary directory behind.
func TestExportReplace(t *testing.T) {
	m, sess := tinyModel(t, 32, 1)
	parent := t.TempDir()
	dir := filepath.Join(parent, "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "first"}); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "variables", "stale.txt")
	if err := os.WriteFile(stale, []byte("from an older export"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := savedmodelstest.DirHash(t, dir)

	for _, c := range []struct {
		name string
		meta savedmodels.Metadata
		want string
	}{
		{"architecture", savedmodels.Metadata{Arch: "xception"}, "architecture"},
		{"preprocessing", savedmodels.Metadata{Preprocessing: "bogus"}, "bogus"},
		{"classes", savedmodels.Metadata{Classes: []string{"a", "b", "c"}}, "3 class names"},
		{"input size", savedmodels.Metadata{InputSize: 64}, "input size 64"},
	} {
		err := export.SavedModel(dir, sess, m, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: Export error %v, want one naming %s and %q", c.name, err, dir, c.want)
		}
	}
	if savedmodelstest.DirHash(t, dir) != before {
		t.Error("a failed export changed the existing SavedModel")
	}

	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "second"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a file of the replaced export survived: %v", err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if id := model.Metadata().RunID; id != "second" {
		t.Errorf("run id %q after the second export", id)
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("beside the SavedModel: %v, want nothing", names)
	}
}
