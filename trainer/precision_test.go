package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
)

// TestMixedBFloat16Learns trains the demo run (as TestShortRunLearns) under
// mixed_bfloat16: it learns as the float32 run does, run.json and the SavedModel's
// metadata record the policy, and Python TensorFlow loads a SavedModel whose signatures
// are float32 (it is the float32 graph with the trained variables) and whose
// probabilities on real X-rays are finite and sum to 1.
func TestMixedBFloat16Learns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a two-minute training run")
	}
	pyref.Require(t)
	cfg := DemoConfig(sampleRoot(), filepath.Join(t.TempDir(), "run"))
	cfg.Quiet, cfg.Precision = true, tfgraph.PrecisionMixedBFloat16
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkLearned(t, cfg, res)

	var run struct {
		Config Config `json:"config"`
	}
	readJSON(t, filepath.Join(cfg.Out, "run.json"), &run)
	var meta savedmodels.Metadata
	readJSON(t, filepath.Join(res.SavedModel, savedmodels.MetadataFile), &meta)
	if run.Config.Precision != cfg.Precision || meta.TrainingPrecision != cfg.Precision {
		t.Errorf("precision recorded as %q in run.json and %q in the SavedModel's metadata, want %q", run.Config.Precision, meta.TrainingPrecision, cfg.Precision)
	}
	imgs := sampleImages(t)
	checkFloat32Signatures(t, res.SavedModel, []string{filepath.Join(sampleRoot(), imgs[0][0]), filepath.Join(sampleRoot(), imgs[1][0])})
}

// checkFloat32Signatures loads a SavedModel with Python TensorFlow
// (scripts/ref/savedmodel_check.py): serving_default and serving_bytes take and give
// float32 (and the bytes, the class id), and serving_bytes' probabilities on files are
// finite and sum to 1.
func checkFloat32Signatures(t *testing.T, dir string, files []string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	pyref.Run(t, pyref.Script("savedmodel_check.py"), append([]string{dir, out}, files...)...)
	var py struct {
		Bytes struct {
			Probabilities [][]float64 `json:"probabilities"`
		} `json:"bytes"`
		Signatures map[string]struct{ Inputs, Outputs map[string]tensorSpec } `json:"signatures"`
	}
	readJSON(t, out, &py)
	want := map[string]string{"image": "float32", "image_bytes": "string", "probabilities": "float32", "class_id": "int64", "class": "int32", "heatmap": "float32"}
	for _, sig := range []string{savedmodels.SignatureDefault, savedmodels.SignatureBytes} {
		s, ok := py.Signatures[sig]
		if !ok || len(s.Outputs) == 0 {
			t.Fatalf("Python finds no signature %s: %v", sig, py.Signatures)
		}
		for name, spec := range mergeSpecs(s.Inputs, s.Outputs) {
			if w, ok := want[name]; !ok || spec != w {
				t.Errorf("%s: %s is %s, want %s", sig, name, spec, w)
			}
		}
	}
	if len(py.Bytes.Probabilities) != len(files) {
		t.Fatalf("serving_bytes gave %d rows for %d files", len(py.Bytes.Probabilities), len(files))
	}
	for i, p := range py.Bytes.Probabilities {
		if len(p) != 2 || math.IsNaN(p[0]+p[1]) || math.Abs(p[0]+p[1]-1) > 1e-5 {
			t.Errorf("%s: probabilities %v", files[i], p)
		}
	}
}

// tensorSpec is savedmodel_check.py's record of a signature tensor.
type tensorSpec struct {
	Dtype string `json:"dtype"`
}

// mergeSpecs maps every input and output of a signature to its dtype.
func mergeSpecs(a, b map[string]tensorSpec) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v.Dtype
	}
	for k, v := range b {
		m[k] = v.Dtype
	}
	return m
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestPrecisionRefusals: an unknown policy, and mixed_float16 where loss scaling does not
// reach (replicas), are ConfigErrors on Precision.
func TestPrecisionRefusals(t *testing.T) {
	for _, c := range []struct{ precision, devices string }{{"bfloat16", ""}, {"mixed_float16", "2"}} {
		cfg := testConfig(tfgraph.MobileNet, 128, "", t.TempDir())
		cfg.Data, cfg.Precision, cfg.Devices, cfg.Device = sampleRoot(), c.precision, c.devices, DeviceCPU
		var ce *ConfigError
		if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != "Precision" {
			t.Errorf("precision %s devices %q: %v, want a ConfigError on Precision", c.precision, c.devices, err)
		} else {
			t.Logf("%s", err)
		}
	}
	cfg := testConfig(tfgraph.MobileNet, 128, "", t.TempDir())
	cfg.Data, cfg.Precision = sampleRoot(), tfgraph.PrecisionMixedBFloat16
	if err := cfg.Validate(); err != nil {
		t.Errorf("mixed_bfloat16: %v", err)
	}
}

// TestMixedBFloat16StepParity: one SGD step of the paper's MobileNet at 128 px under
// mixed_bfloat16 from the same weights as Keras 3 under the same global policy (output
// Dense float32; scripts/ref/trainer_keras_steps.py --policy mixed_bfloat16), on the
// parity test's batch of real X-rays (smooth weights).
//
// bfloat16 keeps 8 bits of mantissa (rounding 2^-9, ~2e-3 relative per operation), so the
// two sides cannot agree to float32's 1e-6: they round the same values in different
// kernels. Each bound sits between two distances measured on the development machine:
// xray's mixed_bfloat16 step vs Keras's (the implementation's error) and xray's float32
// step vs Keras's mixed_bfloat16 one (what the policy itself changes), and the test
// checks both sides of it, so a model that silently trained in float32 fails:
//   - weights, max |Go - Keras| / max(1, |Keras|): 1.2e-5 vs 5.2e-3; bound 1e-4;
//   - the update's error beyond rounding (updateError, worst variable): 0.14 (a BN beta
//     whose update is tiny) vs 1.02; bound 0.4;
//   - the step's training loss, relative: 0 vs 0.057; bound 5e-3;
//   - validation loss after the step (inference on moving statistics amplifies rounding):
//     0.031 vs 0.18 (0.024 vs 0.28 from other calibrated weights); bound 0.08.
//
// Later steps are not compared: in bfloat16 the trajectories part quickly (after step 3
// the weights are 1.3e-2 apart against 4.1e-2 for float32, a margin too thin to test).
func TestMixedBFloat16StepParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: step parity trains MobileNet")
	}
	pyref.Require(t)
	const size = 128
	type bounds struct{ weight, update, loss, valLoss float64 }
	tol := bounds{weight: 1e-4, update: 0.4, loss: 5e-3, valLoss: 0.08}
	pc := parityCase{arch: tfgraph.MobileNet, style: "smooth", batch: 4, steps: 1, modes: []string{"sgd"}, policy: tfgraph.PrecisionMixedBFloat16}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	imgs := sampleImages(t)
	entries := append(interleave(imgs, 0, pc.batch*pc.steps, dataset.Train), interleave(imgs, 20, 4, dataset.Val)...)
	entries = writeSquarePNGs(t, data, size, entries)
	manifest := writeManifest(t, filepath.Join(dir, "manifest.csv"), data, entries)
	ref := kerasSteps(t, pc, size, data, entries)
	checkInputsIdentical(t, ref, size, data, entries)
	c := parityCheck{mode: "sgd", step: 1}
	wantLoss, wantVal := float64(ref.array(t, "sgd/loss")[0]), float64(ref.array(t, "sgd/val_loss")[0])

	measure := func(precision string) bounds {
		cfg := testConfig(pc.arch, size, manifest, filepath.Join(dir, "run-"+precision))
		cfg.Init = filepath.Join(ref.dir, "init.weights.h5")
		cfg.Shuffle, cfg.BatchSize, cfg.MaxSteps, cfg.Epochs = false, pc.batch, 1, 1
		cfg.LearningRate, cfg.Precision = pc.learningRate(), precision
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		st, got, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(1)))
		if err != nil {
			t.Fatal(err)
		}
		d := ref.variableDiff(t, pc, c, got)
		if d.changed == 0 {
			t.Fatal("Keras changed no variable: the reference is broken")
		}
		h := st.History[0]
		m := bounds{weight: d.worstW, update: d.worstU}
		m.loss = approx.Max(t, "loss", []float64{h.Loss}, []float64{wantLoss}, approx.AbsRel).Max
		m.valLoss = approx.Max(t, "val_loss", []float64{h.ValLoss}, []float64{wantVal}, approx.AbsRel).Max
		t.Logf("MEASURED xray %s vs Keras mixed_bfloat16 after step 1: weights %.3g (%s), update %.3g (%s), loss %.3g, val_loss %.3g",
			precision, m.weight, d.worstWName, m.update, d.worstUName, m.loss, m.valLoss)
		return m
	}
	bf16, f32 := measure(tfgraph.PrecisionMixedBFloat16), measure(tfgraph.PrecisionFloat32)
	for _, q := range []struct {
		what           string
		bf16, f32, tol float64
	}{{"weights", bf16.weight, f32.weight, tol.weight}, {"update", bf16.update, f32.update, tol.update},
		{"loss", bf16.loss, f32.loss, tol.loss}, {"val_loss", bf16.valLoss, f32.valLoss, tol.valLoss}} {
		if !(q.bf16 <= q.tol) {
			t.Errorf("%s: xray mixed_bfloat16 is %.3g from Keras mixed_bfloat16 (bound %g)", q.what, q.bf16, q.tol)
		}
		if !(q.f32 > q.tol) {
			t.Errorf("%s: xray float32 is only %.3g from Keras mixed_bfloat16 (bound %g): the bound does not tell the policies apart", q.what, q.f32, q.tol)
		}
	}
}

// TestMixedFloat16Run trains one step of MobileNet at 128 px from scratch under
// mixed_float16 through Run (a batch of two: TensorFlow's CPU float16 kernels are slow)
// and checks what step.Build wires, by LossScaleOptimizer's rule for the step it got: a
// finite step leaves dynamic_scale 2^15 and step_counter 1 and moves the weights (the
// last Dense and the first convolution: the gradient went through every float16 layer);
// a step whose scaled gradient overflowed float16 (this one, from scratch, measured)
// halves the scale to 2^14, resets the counter and leaves every trainable weight as it
// was, bit for bit, while BatchNormalization's moving statistics still move (the forward
// pass updates them, as in Keras). The training loss is finite either way, Python
// TensorFlow loads the exported SavedModel with float32 signatures, and the run resumes
// under float32.
func TestMixedFloat16Run(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a float16 step on CPU")
	}
	pyref.Require(t)
	dir := t.TempDir()
	imgs := sampleImages(t)
	entries := append(interleave(imgs, 0, 2, dataset.Train), interleave(imgs, 20, 2, dataset.Val)...)
	manifest := writeManifest(t, filepath.Join(dir, "manifest.csv"), sampleRoot(), entries)
	cfg := testConfig(tfgraph.MobileNet, 128, manifest, filepath.Join(dir, "run"))
	cfg.Precision, cfg.BatchSize, cfg.MaxSteps, cfg.Epochs, cfg.Shuffle = tfgraph.PrecisionMixedFloat16, 2, 1, 1, false
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, got, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(1)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 1 || len(st.History) != 1 || math.IsNaN(st.History[0].Loss) || math.IsInf(st.History[0].Loss, 0) {
		t.Fatalf("checkpoint at step %d, history %+v: want one step with a finite loss", st.Step, st.History)
	}
	scalar := func(name string) float32 {
		v, ok := got[name]
		if !ok {
			t.Fatalf("checkpoint lacks %s", name)
		}
		return v.Value().(float32)
	}
	scale, counter := scalar("loss_scale/dynamic_scale"), scalar("loss_scale/step_counter")
	before := initialValues(t, tfgraph.Config{Arch: cfg.Arch, InputSize: cfg.InputSize, Seed: cfg.Seed})
	moved := func(k string) bool { return !slices.Equal(flatFloats(t, before[k]), flatFloats(t, got[k])) }
	switch {
	case scale == 1<<15 && counter == 1:
		t.Logf("MEASURED a finite step: loss %.4f", st.History[0].Loss)
		for _, k := range []string{"dense_6/kernel", "conv1/kernel"} {
			if !moved(k) {
				t.Errorf("%s did not move in a finite float16 step", k)
			}
		}
	case scale == 1<<14 && counter == 0:
		t.Logf("MEASURED a skipped step (the scaled gradient overflowed float16): loss %.4f", st.History[0].Loss)
		for k, v := range before {
			if strings.HasSuffix(k, "moving_mean") || strings.HasSuffix(k, "moving_variance") {
				continue
			}
			if !slices.Equal(flatFloats(t, v), flatFloats(t, got[k])) {
				t.Errorf("%s moved in a skipped step", k)
			}
		}
		if !moved("conv1_bn/moving_mean") {
			t.Errorf("conv1_bn/moving_mean did not move: the forward pass's statistics update must run in a skipped step")
		}
	default:
		t.Fatalf("after one step dynamic_scale %v and step_counter %v: LossScaleOptimizer gives 32768 and 1 or 16384 and 0", scale, counter)
	}
	checkFloat32Signatures(t, res.SavedModel, []string{filepath.Join(sampleRoot(), imgs[0][0])})

	// Resuming under float32 drops the loss-scale state the graph has no place for.
	cfg.Resume, cfg.Precision, cfg.Epochs, cfg.MaxSteps = true, tfgraph.PrecisionFloat32, 2, 2
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("resume a mixed_float16 run in float32: %v", err)
	}
	_, got, err = checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(2)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["loss_scale/dynamic_scale"]; ok {
		t.Errorf("the float32 epoch's checkpoint still holds the loss scale")
	}
}

// initialValues is every variable of a model built and initialised from cfg.
func initialValues(t *testing.T, cfg tfgraph.Config) map[string]*tf.Tensor {
	t.Helper()
	m, err := tfgraph.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := tfgraph.Initialize(sess, m.Variables); err != nil {
		t.Fatal(err)
	}
	v, err := tfgraph.Values(sess, m.Variables)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
