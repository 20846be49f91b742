package trainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
)

// Data parallelism against Keras 3: scripts/ref/trainer_mirrored_steps.py trains the
// paper's MobileNet (128 px) under tf.distribute.MirroredStrategy over 2 logical CPU
// devices with model.fit, one global batch of 4 a step, from the weights
// trainer_keras_steps.py draws (its smooth style, see parity_test.go); trainer.Run does
// the same with Devices "2" (2 logical CPU devices, in-graph replicas). After each
// checked step every variable of the checkpoint (replica 0's moving statistics, as
// Keras's primary copies) and the momentum slots must match Keras within the one-device
// MobileNet tolerances of TestStepParityWithKeras, and so must the losses and the
// validation loss, which Keras's evaluate computes with each replica on its own half of
// the images and its own moving statistics.
//
// One exception: the momentum slots of dense_3, dense_4 and dense_5's biases. Their
// gradients are zero in exact arithmetic: dense_5 feeds the head's BatchNormalization,
// which subtracts each replica's batch mean, and with these weights dense_3 and dense_4
// reach it through ReLUs that pass every image of the batch (a linear path), so a shift
// of those biases is subtracted too. What both sides compute is float32 noise (Keras's
// slots after step 1: norms 9.9e-9, 9.4e-9 and 1.3e-8, against 4.1e-3 for
// dense_3/kernel's), summed over the replicas in another order; they are held to the
// weight tolerance only.
//
// The replicas run Keras's BatchNormalization ops (--batch-norm keras): fused, the oneDNN
// kernel's rounding depends on the CPU, and on an AMD EPYC it moved momentum step 3 past
// the tolerances (dense_4/kernel 1.15e-6 > 1e-6, the head BatchNormalization's gamma update
// 5.4e-4 > 2e-4), where on the Intel machine it had passed; the fused kernel's own error is
// bounded in tfgraph's TestKerasParity.
func TestReplicasParityWithKeras(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains MobileNet on two replicas")
	}
	pyref.Require(t)
	pc := parityCase{arch: tfgraph.MobileNet, weightTol: 1e-6, updateTol: 2e-4, style: "smooth", batch: 4, steps: 3,
		modes: []string{"sgd", "momentum", "freeze"}, // the one-device parity case's: its cached reference is shared
		noise: []string{"sgd/momentum/dense_3/bias", "sgd/momentum/dense_4/bias", "sgd/momentum/dense_5/bias"}}
	const size = 128
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	imgs := sampleImages(t)
	entries := append(interleave(imgs, 0, pc.batch*pc.steps, dataset.Train), interleave(imgs, 20, 4, dataset.Val)...)
	entries = writeSquarePNGs(t, data, size, entries)
	manifest := writeManifest(t, filepath.Join(dir, "manifest.csv"), data, entries)
	init := filepath.Join(kerasSteps(t, pc, size, data, entries).dir, "init.weights.h5")
	// SGD with momentum holds plain SGD (the gradient averaging) and adds the slots; steps
	// 1 and 3 only, to keep the test near two minutes on two cores.
	ref := mirroredSteps(t, pc, size, 2, []string{"momentum"}, init, data, entries)
	for _, c := range []parityCheck{{mode: "momentum", step: 1}, {mode: "momentum", step: 3}} {
		t.Run(fmt.Sprintf("%s/step%d", c.mode, c.step), func(t *testing.T) {
			cfg := testConfig(pc.arch, size, manifest, filepath.Join(dir, fmt.Sprintf("run-%s-%d", c.mode, c.step)))
			cfg.Init, cfg.Device, cfg.Devices = init, DeviceCPU, "2"
			cfg.BatchNorm = tfgraph.BatchNormKeras
			cfg.Shuffle, cfg.BatchSize, cfg.MaxSteps, cfg.Epochs = false, pc.batch, int64(c.step), 1
			cfg.LearningRate = pc.learningRate()
			leverConfig(&cfg, c.mode, 0)
			var stats map[string]*tf.Tensor // replica 1's own moving statistics
			res, err := runInspect(context.Background(), cfg, func(r *run) (err error) {
				stats, err = tfgraph.Values(r.sess, r.m.Replicas[1].Stats)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			ref.compareReplicaStats(t, c, stats)
			st, got, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(1)))
			if err != nil {
				t.Fatal(err)
			}
			if st.Step != int64(c.step) || res.Steps != int64(c.step) {
				t.Fatalf("checkpoint at step %d (result %d), want %d", st.Step, res.Steps, c.step)
			}
			ref.compareVariables(t, pc, c, got)
			ref.compareMetrics(t, c, st.History)
		})
	}
}

// compareReplicaStats checks replica 1's moving statistics (never checkpointed) against
// the copies Keras's replica 1 holds after the same step: each from its own half-batches.
func (r *kerasStepsRef) compareReplicaStats(t *testing.T, c parityCheck, stats map[string]*tf.Tensor) {
	t.Helper()
	if len(stats) == 0 {
		t.Fatal("replica 1 has no moving statistics of its own")
	}
	worst, differ := 0.0, 0
	for name, v := range stats {
		path, ok := strings.CutPrefix(name, "replica_1/")
		if !ok {
			t.Fatalf("replica 1's statistic %s is not named replica_1/...", name)
		}
		g, w := flatFloats(t, v), r.array(t, fmt.Sprintf("replica1/%s/step%d/%s", c.mode, c.step, path))
		worst = max(worst, approx.Max(t, name, g, w, approx.AbsRel).Max)
		if !slices.Equal(w, r.array(t, fmt.Sprintf("%s/step%d/%s", c.mode, c.step, path))) {
			differ++ // Keras's two replicas hold different statistics
		}
	}
	if worst > 1e-6 {
		t.Errorf("replica 1's moving statistics after step %d: |Go - Keras| / max(1, |Keras|) = %.3g > 1e-6", c.step, worst)
	}
	if differ == 0 {
		t.Errorf("Keras's replica 1 holds replica 0's statistics: the reference did not split the batch")
	}
	t.Logf("MEASURED replica 1's %d moving statistics (%d differ from replica 0's in Keras): worst %.3g", len(stats), differ, worst)
}

// mirroredSteps runs (or finds cached) the MirroredStrategy reference.
func mirroredSteps(t *testing.T, pc parityCase, size, replicas int, modes []string, init, data string, entries []dataset.Entry) *kerasStepsRef {
	t.Helper()
	script := pyref.Script("trainer_mirrored_steps.py")
	args := []string{"--arch", pc.arch, "--size", strconv.Itoa(size), "--batch", strconv.Itoa(pc.batch), "--steps", strconv.Itoa(pc.steps),
		"--lr", strconv.FormatFloat(pc.learningRate(), 'g', -1, 64), "--replicas", strconv.Itoa(replicas), "--modes", strings.Join(modes, ",")}
	key := append([]string{"trainer_mirrored_steps", pyref.FileHash(t, script), pyref.FileHash(t, pyref.Script("trainer_keras_steps.py")),
		pyref.FileHash(t, pyref.Script("tfgraph_reference.py")), pyref.FileHash(t, init)}, args...)
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
		pyref.Run(t, script, append(args, "--init", init, "--list", listFile, "--out", dir)...)
	}
	return openStepsRef(t, dir)
}

// TestParseDevicesErrors: a bad replica list is a ConfigError of Config.Devices (the
// parsing itself is devices.ParseReplicas, tested there).
func TestParseDevicesErrors(t *testing.T) {
	for _, spec := range []string{"0", "-1", "TPU:0,TPU:1", "GPU:0,GPU:0", "GPU:x", "two"} {
		err := Config{Devices: spec, BatchSize: 20}.validateDevices()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Devices" {
			t.Errorf("validateDevices(%q): %v, want a Devices ConfigError", spec, err)
		}
	}
}
