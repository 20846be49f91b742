package trainer

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/tfgraph"
)

// Step parity with Keras 3 (see the script's doc for the two weight styles: steps after
// the first are compared only on the "smooth" weights, where rounding cannot derail the
// trajectory; the "random" ones are compared after one step from identical weights): scripts/ref/trainer_keras_steps.py builds the paper's model
// with seeded random weights (BN statistics included), saves them as a Keras 3
// .weights.h5 and runs train_on_batch on fixed batches of real X-rays, recording every
// variable after every step. Here trainer.Run, the product path, starts from that file
// (--init), trains the same batches in manifest order (--shuffle=false) and stops after k
// steps (--max-steps k); the checkpoint it writes must hold Keras's variables after step k.
//
// Tolerances, with rel(a, b) = |a-b| / max(1, |b|) per element:
//   - every variable (kernels, biases, BN gamma/beta, moving mean/variance, momentum
//     slots): max rel <= 1e-4 (the bound);
//   - what the steps changed, ||Δgo - Δkeras|| <= 2e-3 ||Δkeras|| (L2 over the tensor),
//     or <= 1e-6 ||initial|| (a few float32 ulps of the weight): an SGD step moves a
//     weight by only lr*g, often far below 1e-4, so without this a missing or wrong
//     update would pass the first check;
//   - variables Keras leaves alone (a frozen base) stay bit for bit;
//   - Adam and AdamW: the two checks above on every element whose gradient is signal, not
//     float32 noise (adamMasks: at least 99 % of them);
//   - epoch loss = mean of Keras's per-step losses: rel <= 1e-4; accuracies equal;
//   - validation loss (inference mode, after the steps): rel <= 1e-3. The steps leave
//     the weights ~2e-7 apart, and a random network run on moving statistics that no
//     longer fit its weights amplifies that about a thousandfold (with identical weights
//     tfgraph's own tests match inference to 1e-4).
const (
	parityTol      = 1e-4
	parityDeltaTol = 2e-3
	parityFloor    = 1e-6
	parityValTol   = 1e-3
)

type parityCase struct {
	lr     float64 // 0: the paper's 0.001
	arch   string
	style  string // weights of the reference script: random (step 1 only) or smooth
	batch  int
	steps  int
	modes  []string // modes of the reference script
	checks []parityCheck
}

type parityCheck struct {
	mode        string
	step        int
	metricsOnly bool // compare the losses and accuracies, not the variables
}

func parityCases() []parityCase {
	all := func(mode string, steps int) []parityCheck {
		var cs []parityCheck
		for k := 1; k <= steps; k++ {
			cs = append(cs, parityCheck{mode: mode, step: k})
		}
		return cs
	}
	return []parityCase{
		{arch: tfgraph.MobileNet, style: "random", batch: 4, steps: 1, modes: []string{"sgd"}, checks: all("sgd", 1)},
		{arch: tfgraph.MobileNet, style: "smooth", batch: 4, steps: 3, modes: []string{"sgd", "momentum", "freeze"},
			checks: append(all("sgd", 3), parityCheck{mode: "momentum", step: 3}, parityCheck{mode: "freeze", step: 3})},
		// The bigger backbones train slowly on two cores: only after step 2 (which holds
		// step 1: its loss is in the epoch average, its update in the weights).
		{arch: tfgraph.Xception, style: "smooth", batch: 4, steps: 2, modes: []string{"sgd"}, checks: []parityCheck{{mode: "sgd", step: 2}}},
		{arch: tfgraph.InceptionV3, style: "smooth", batch: 4, steps: 2, modes: []string{"sgd"}, checks: []parityCheck{{mode: "sgd", step: 2}}},
		// The training levers (leverConfig): after the last step, which holds the others.
		{arch: tfgraph.MobileNet, style: "smooth", batch: 4, steps: 3, modes: []string{"classweight", "cosine", "smoothing"},
			checks: []parityCheck{{mode: "classweight", step: 3}, {mode: "cosine", step: 3}, {mode: "smoothing", step: 3}}},
		// Adam moves every weight by about lr whatever its gradient, so where rounding noise
		// decides a step's sign (adamMasks) the weights part after step 1; later steps
		// spread that, so after step 3 only the losses are compared: the training loss
		// averages steps 1-3 and the validation loss (which these steps move fourfold)
		// reacts to a wrong bias correction or iteration count.
		{arch: tfgraph.MobileNet, style: "smooth", batch: 4, steps: 3, lr: 1e-4, modes: []string{"adam", "adamw"},
			checks: []parityCheck{{mode: "adam", step: 1}, {mode: "adamw", step: 1},
				{mode: "adam", step: 3, metricsOnly: true}, {mode: "adamw", step: 3, metricsOnly: true}}},
	}
}

func TestStepParityWithKeras(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: step parity trains three architectures")
	}
	pyref.Require(t)
	for _, pc := range parityCases() {
		t.Run(pc.arch+"/"+pc.style+"/"+strings.Join(pc.modes, "+"), func(t *testing.T) {
			size := 128
			if pc.arch != tfgraph.MobileNet {
				size = tfgraph.MinInputSize(pc.arch)
			}
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			imgs := sampleImages(t)
			entries := append(interleave(imgs, 0, pc.batch*pc.steps, dataset.Train), interleave(imgs, 20, 4, dataset.Val)...)
			entries = writeSquarePNGs(t, data, size, entries)
			manifest := writeManifest(t, filepath.Join(dir, "manifest.csv"), data, entries)
			ref := kerasSteps(t, pc, size, data, entries)
			checkInputsIdentical(t, ref, size, data, entries)

			for _, c := range pc.checks {
				t.Run(fmt.Sprintf("%s/step%d", c.mode, c.step), func(t *testing.T) {
					cfg := testConfig(pc.arch, size, manifest, filepath.Join(dir, fmt.Sprintf("run-%s-%d", c.mode, c.step)))
					cfg.Init = filepath.Join(ref.dir, "init.weights.h5")
					cfg.Shuffle, cfg.BatchSize, cfg.MaxSteps, cfg.Epochs = false, pc.batch, int64(c.step), 1
					cfg.LearningRate = pc.learningRate()
					leverConfig(&cfg, c.mode)
					res, err := Run(context.Background(), cfg, nil)
					if err != nil {
						t.Fatal(err)
					}
					st, got, err := readCheckpoint(filepath.Join(cfg.Out, "checkpoints", checkpointName(1)))
					if err != nil {
						t.Fatal(err)
					}
					if st.Step != int64(c.step) || res.Steps != int64(c.step) {
						t.Fatalf("checkpoint at step %d (result %d), want %d", st.Step, res.Steps, c.step)
					}
					if !c.metricsOnly {
						ref.compareVariables(t, c, got)
					}
					ref.compareMetrics(t, c, st.History)
				})
			}
		})
	}
}

func (pc parityCase) learningRate() float64 {
	if pc.lr == 0 {
		return 0.001
	}
	return pc.lr
}

// leverConfig sets what the reference script's mode sets in Keras (see its doc).
func leverConfig(cfg *Config, mode string) {
	switch mode {
	case "momentum":
		cfg.Momentum = 0.9
	case "freeze":
		cfg.FreezeBase = true
	case "classweight":
		cfg.ClassWeight = fmt.Sprintf("%g,%g", parityClassWeights[0], parityClassWeights[1])
	case "adam":
		cfg.Optimizer = OptimizerAdam
	case "adamw":
		cfg.Optimizer, cfg.WeightDecay = OptimizerAdamW, 0.5
	case "cosine":
		cfg.LRSchedule = ScheduleCosine // over Epochs (1) x the batches of the train images: the script's steps
	case "smoothing":
		cfg.LabelSmoothing = 0.1
	}
}

// slotPrefixes maps the checkpoint names of optimizer slots to the reference's keys.
var slotPrefixes = map[string]string{"sgd/momentum/": "slot/", "adam/m/": "slot_m/", "adam/v/": "slot_v/"}

// kerasStepsRef is one cached run of the reference script.
type kerasStepsRef struct {
	dir   string
	npz   *npz.Reader
	names []string // Keras weight paths (init/<path> keys)
}

// kerasSteps runs (or finds cached) the Keras reference for a case.
func kerasSteps(t *testing.T, pc parityCase, size int, data string, entries []dataset.Entry) *kerasStepsRef {
	t.Helper()
	script := pyref.Script("trainer_keras_steps.py")
	args := []string{"--arch", pc.arch, "--size", strconv.Itoa(size), "--batch", strconv.Itoa(pc.batch),
		"--steps", strconv.Itoa(pc.steps), "--lr", strconv.FormatFloat(pc.learningRate(), 'g', -1, 64), "--style", pc.style, "--modes", strings.Join(pc.modes, ",")}
	key := append([]string{"trainer_keras_steps", pyref.FileHash(t, script), pyref.FileHash(t, pyref.Script("tfgraph_reference.py"))}, args...)
	var list strings.Builder
	for _, e := range entries {
		p := filepath.Join(data, filepath.FromSlash(e.Path))
		fmt.Fprintf(&list, "%s,%d,%s\n", e.Split, e.Label, p)
		key = append(key, string(e.Split), strconv.Itoa(e.Label), pyref.FileHash(t, p))
	}
	dir := pyref.CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		listFile := filepath.Join(t.TempDir(), "list.csv")
		if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		pyref.Run(t, script, append(args, "--list", listFile, "--out", dir)...)
	}
	r, err := npz.Open(filepath.Join(dir, "ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ref := &kerasStepsRef{dir: dir, npz: r}
	for _, k := range r.Keys() {
		if name, ok := strings.CutPrefix(strings.TrimSuffix(k, ".npy"), "init/"); ok {
			ref.names = append(ref.names, name)
		}
	}
	slices.Sort(ref.names)
	return ref
}

// array reads one reference array.
func (r *kerasStepsRef) array(t *testing.T, name string) []float32 {
	t.Helper()
	var data []float32
	if err := r.npz.Read(name+".npy", &data); err != nil {
		t.Fatalf("reference %s: %v", name, err)
	}
	return data
}

// checkInputsIdentical asserts that the loader's preprocessing of the PNGs gives
// exactly the floats Keras was fed (so any difference below is the training's).
func checkInputsIdentical(t *testing.T, ref *kerasStepsRef, size int, data string, entries []dataset.Entry) {
	t.Helper()
	pre := preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}
	n := pre.Len()
	x := map[dataset.Subset][]float32{dataset.Train: ref.array(t, "x_train"), dataset.Val: ref.array(t, "x_val")}
	seen := map[dataset.Subset]int{}
	for _, e := range entries {
		got, err := pre.File(filepath.Join(data, filepath.FromSlash(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		i := seen[e.Split]
		seen[e.Split]++
		if !slices.Equal(got, x[e.Split][i*n:(i+1)*n]) {
			t.Fatalf("%s: Go's preprocessed pixels differ from what Keras was fed", e.Path)
		}
	}
}

// compareVariables checks every variable of a Go checkpoint against Keras after the
// same step.
func (r *kerasStepsRef) compareVariables(t *testing.T, c parityCheck, got map[string]*tf.Tensor) {
	t.Helper()
	prefix := fmt.Sprintf("%s/step%d/", c.mode, c.step)
	want := map[string]string{} // checkpoint name -> reference key
	for _, n := range r.names {
		want[n] = prefix + n
		for goPrefix, refPrefix := range slotPrefixes {
			if r.npz.Header(prefix+refPrefix+n+".npy") != nil {
				want[goPrefix+n] = prefix + refPrefix + n
			}
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("checkpoint holds %s, which Keras's model and optimizer lack", n)
		}
	}
	masks := r.adamMasks(t, c, prefix, got)
	var worst, worstDelta float64
	var worstName, worstDeltaName string
	changed := 0
	var worstDW float64 // largest ||Δgo - Δkeras|| / ||initial||
	for name, key := range want {
		gt, ok := got[name]
		if !ok {
			t.Errorf("checkpoint lacks %s", name)
			continue
		}
		g, w := flatFloats(t, gt), r.array(t, key)
		if len(g) != len(w) {
			t.Errorf("%s: %d values, Keras %d", name, len(g), len(w))
			continue
		}
		slot := slotName(name)
		var init []float32
		if slot {
			init = make([]float32, len(w)) // slots start at zero
		} else {
			init = r.array(t, "init/"+name)
		}
		if m := masks[baseName(name)]; m != nil {
			g, w, init = keep(g, m), keep(w, m), keep(init, m)
		}
		e := relErr(g, w)
		if e > worst {
			worst, worstName = e, name
		}
		if e > parityTol {
			t.Errorf("%s after %s step %d: rel error %.3g > %g", name, c.mode, c.step, e, parityTol)
		}
		var dd, dk, w0 float64 // ||Δgo - Δkeras||², ||Δkeras||², ||initial||² (the scale of the weight)
		for i := range g {
			kd := float64(w[i]) - float64(init[i])
			gd := float64(g[i]) - float64(init[i])
			dd += (gd - kd) * (gd - kd)
			dk += kd * kd
			w0 += float64(init[i]) * float64(init[i])
		}
		if slot {
			w0 = dk // a slot starts at zero: measure against its value
		}
		if dk == 0 {
			if dd != 0 {
				t.Errorf("%s: Keras left it unchanged, Go changed it (by %.3g)", name, math.Sqrt(dd))
			}
			continue
		}
		changed++
		u, dw := math.Sqrt(dd/dk), math.Sqrt(dd/w0)
		if u > worstDelta {
			worstDelta, worstDeltaName = u, name
		}
		worstDW = math.Max(worstDW, dw)
		// Below parityFloor of the weight's own norm an update is rounding noise (the
		// bias gradients of a layer whose ReLUs are all on vanish exactly behind BN).
		if u > parityDeltaTol && dw > parityFloor {
			t.Errorf("%s: the update differs from Keras's by %.3g of its norm (> %g) and %.3g of the weight's (> %g)", name, u, parityDeltaTol, dw, parityFloor)
		}
	}
	if changed == 0 {
		t.Errorf("Keras changed no variable: the reference is broken")
	}
	t.Logf("%d variables (%d changed): worst rel %.2g (%s), worst update %.2g (%s), worst update difference / weight %.2g",
		len(want), changed, worst, worstName, worstDelta, worstDeltaName, worstDW)
}

// slotName reports whether a checkpoint name is an optimizer slot's.
func slotName(name string) bool {
	for p := range slotPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// parityClassWeights are the reference script's classweight mode's.
var parityClassWeights = [2]float64{1.5, 0.5}

// compareMetrics checks the epoch's loss/accuracy (Keras's average of the per-step values
// so far: with class weights too, Keras's compiled accuracy is unweighted) and the
// validation metrics after the last step.
func (r *kerasStepsRef) compareMetrics(t *testing.T, c parityCheck, h []EpochStats) {
	t.Helper()
	if len(h) != 1 {
		t.Fatalf("history has %d epochs, want 1", len(h))
	}
	loss, acc := r.array(t, c.mode+"/loss"), r.array(t, c.mode+"/accuracy")
	var meanLoss, meanAcc float64
	for k := 0; k < c.step; k++ {
		meanLoss += float64(loss[k]) / float64(c.step)
		meanAcc += float64(acc[k]) / float64(c.step)
	}
	rel := func(a, b float64) float64 { return math.Abs(a-b) / math.Max(1, math.Abs(b)) }
	e := h[0]
	if d := rel(e.Loss, meanLoss); d > parityTol {
		t.Errorf("loss %.7g, Keras's steps average %.7g (per step %v): rel %.3g", e.Loss, meanLoss, loss[:c.step], d)
	}
	if math.Abs(e.Accuracy-meanAcc) > 1e-6 {
		t.Errorf("accuracy %.6g, Keras %.6g", e.Accuracy, meanAcc)
	}
	vl, va := float64(r.array(t, c.mode+"/val_loss")[c.step-1]), float64(r.array(t, c.mode+"/val_accuracy")[c.step-1])
	if d := rel(e.ValLoss, vl); d > parityValTol {
		t.Errorf("val_loss %.7g, Keras evaluate %.7g: rel %.3g", e.ValLoss, vl, d)
	}
	if math.Abs(e.ValAccuracy-va) > 1e-6 {
		t.Errorf("val_accuracy %.6g, Keras %.6g", e.ValAccuracy, va)
	}
	t.Logf("loss %.6f (Keras %.6f), val_loss %.6f (Keras %.6f)", e.Loss, meanLoss, e.ValLoss, vl)
}
