package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/internal/devices/devicestest"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/step"
	"google.golang.org/protobuf/proto"
)

// currentDeviceType is GPU when TensorFlow sees one here, else CPU: the coverage tests
// check the device this machine would train on.
func currentDeviceType(t *testing.T) string {
	t.Helper()
	devs, err := devices.Probe(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(devices.GPUs(devs)) > 0 {
		return devices.GPU
	}
	return devices.CPU
}

// Every op of the three networks and their training steps (with and without momentum,
// whole model and head only, AdamW with class weights and label smoothing) has a CPU
// kernel in the linked TensorFlow and, when it is a GPU build (whether or not a GPU is
// present), a GPU kernel.
func TestKernelCoverage(t *testing.T) {
	types := []string{devices.CPU}
	if gpu, err := devices.GPUBuild(); err != nil {
		t.Fatal(err)
	} else if gpu {
		types = append(types, devices.GPU)
	}
	opTypes := map[string]bool{}
	for _, arch := range tfgraph.Architectures {
		for _, o := range []step.Options{{}, {Momentum: 0.9}, {FreezeBase: true}, leverOptions} {
			m, _ := trainingGraph(t, arch, o)
			for _, op := range m.Graph.Operations() {
				opTypes[op.Type()] = true
			}
			for _, dt := range types {
				if err := devices.CheckKernels(m.Graph, dt); err != nil {
					t.Errorf("%s (%+v): %v", arch, o, err)
				}
			}
		}
	}
	t.Logf("checked %d op types for %v: %v", len(opTypes), types, slices.Sorted(maps.Keys(opTypes)))
}

// With soft placement off and every node pinned to this machine's device, each network's
// initialisation, training step and validation pass run: nothing silently falls back to
// another device.
func TestTrainingStepHardPlaced(t *testing.T) {
	dt := currentDeviceType(t)
	for _, arch := range tfgraph.Architectures {
		for name, o := range map[string]step.Options{"momentum": {Momentum: 0.9}, "levers": leverOptions} {
			t.Run(arch+"/"+name, func(t *testing.T) { hardPlacedStep(t, dt, arch, o) })
		}
	}
}

// leverOptions turns on every training lever that adds ops to the step.
var leverOptions = step.Options{Optimizer: OptimizerAdamW, ClassWeights: []float64{1.5, 0.5}, LabelSmoothing: 0.1}

// hardPlacedStep runs initialisation, a training step and a validation pass of arch
// with every node pinned to device type dt and soft placement off.
func hardPlacedStep(t *testing.T, dt, arch string, o step.Options) {
	m, g := trainingGraph(t, arch, o)
	var def bytes.Buffer
	if _, err := m.Graph.WriteTo(&def); err != nil {
		t.Fatal(err)
	}
	pinned := tf.NewGraph()
	if err := pinned.ImportWithOptions(def.Bytes(), tf.GraphImportOptions{Device: "/device:" + dt + ":0"}); err != nil {
		t.Fatal(err)
	}
	out := func(o tf.Output) tf.Output { return pinned.Operation(o.Op.Name()).Output(o.Index) }
	ops := func(os []*tf.Operation) []*tf.Operation {
		r := make([]*tf.Operation, len(os))
		for i, o := range os {
			r[i] = pinned.Operation(o.Name())
		}
		return r
	}
	cfg, err := proto.Marshal(&pb.ConfigProto{AllowSoftPlacement: false, LogDevicePlacement: false})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(pinned, &tf.SessionOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	vars := append(append([]*tfgraph.Variable(nil), m.Variables...), g.Slots...)
	if _, err := sess.Run(nil, nil, ops(tfgraph.InitOps(vars))); err != nil {
		t.Fatalf("initialise on %s without soft placement: %v", dt, err)
	}
	n := int64(m.Config.InputSize)
	img, err := step.Tensor(make([]float32, 2*n*n*3), []int64{2, n, n, 3})
	if err != nil {
		t.Fatal(err)
	}
	lab, err := step.Tensor([]float32{1, 0, 0, 1}, []int64{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	lr, _ := tf.NewTensor(float32(0.01))
	it, _ := tf.NewTensor(float32(1))
	feeds := map[tf.Output]*tf.Tensor{out(m.Input): img, out(g.Labels): lab, out(g.LR): lr}
	if g.Iteration != (tf.Output{}) {
		feeds[out(g.Iteration)] = it
	}
	if _, err := sess.Run(feeds, []tf.Output{out(g.Loss), out(g.Correct)}, ops(g.Step)); err != nil {
		t.Fatalf("training step on %s without soft placement: %v", dt, err)
	}
	if _, err := sess.Run(feeds, []tf.Output{out(g.EvalLoss), out(g.EvalCorrect)}, nil); err != nil {
		t.Fatalf("validation on %s without soft placement: %v", dt, err)
	}

}

// trainingGraph builds arch at its smallest input with the training step.
func trainingGraph(t *testing.T, arch string, o step.Options) (*tfgraph.Model, *step.Graph) {
	t.Helper()
	m, err := tfgraph.Build(tfgraph.Config{Arch: arch, InputSize: tfgraph.MinInputSize(arch), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := step.Build(m, o)
	if err != nil {
		t.Fatal(err)
	}
	return m, g
}

// --device gpu where TensorFlow sees no GPU: a *devices.NoGPUError naming the causes, and
// the output folder is never created.
func TestDeviceGPUWithoutGPU(t *testing.T) {
	if currentDeviceType(t) == devices.GPU {
		t.Skip("TensorFlow sees a GPU here: the no-GPU error cannot happen")
	}
	cfg := testConfig(tfgraph.MobileNet, 128, "", filepath.Join(t.TempDir(), "run"))
	cfg.Data, cfg.Device = sampleRoot(), DeviceGPU
	_, err := Run(context.Background(), cfg)
	var nogpu *devices.NoGPUError
	if !errors.Is(err, devices.ErrNoGPU) || !errors.As(err, &nogpu) {
		t.Fatalf("Run with device gpu and no GPU: %v, want devices.ErrNoGPU", err)
	}
	if want := expectedNoGPUCause(t); !strings.Contains(err.Error(), want) {
		t.Errorf("the error does not say %q: %v", want, err)
	}
	if _, err := os.Stat(cfg.Out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the output folder %s was touched: %v", cfg.Out, err)
	}
}

// expectedNoGPUCause is what the no-GPU error must say here: that the library is a
// CPU-only build, or else that no NVIDIA device is visible.
func expectedNoGPUCause(t *testing.T) string {
	t.Helper()
	gpu, err := devices.GPUBuild()
	switch {
	case err != nil:
		t.Fatal(err)
	case !gpu:
		return "CPU-only build"
	case !devices.HostHasGPU():
		return "no NVIDIA device is visible"
	}
	return "could not use it"
}

// checkRunDevices compares run.json's devices with Python TensorFlow's local devices (the
// same library; the reference sees no GPU, so the CPUs are compared) and its build flag
// with tf.test.is_built_with_cuda().
func checkRunDevices(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rj devices.Record
	if err := json.Unmarshal(b, &rj); err != nil {
		t.Fatal(err)
	}
	ref := devicestest.Run(t)
	var got []string
	for _, d := range rj.Devices {
		if d.Type == devices.CPU {
			got = append(got, fmt.Sprintf("%s %d", d.Short(), d.MemoryBytes))
		}
	}
	if want := ref.CPUs(); len(want) == 0 || strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("run.json CPU devices %q, Python TensorFlow %q", got, want)
	}
	if rj.GPUBuild != ref.IsCUDABuild {
		t.Errorf("run.json tensorflow_gpu_build %v, tf.test.is_built_with_cuda() %v", rj.GPUBuild, ref.IsCUDABuild)
	}
	if len(devices.GPUs(rj.Devices)) == 0 && rj.CUDA != nil {
		t.Errorf("a CPU run records CUDA libraries %+v", rj.CUDA)
	}
}

// A machine with an NVIDIA GPU (here: an nvidia-smi on PATH) and a CPU-only TensorFlow:
// auto says so once and goes on; gpu fails naming the CPU-only library.
func TestCPUOnlyLibraryOnGPUMachine(t *testing.T) {
	if gpu, err := devices.GPUBuild(); err != nil || gpu {
		t.Skipf("needs the CPU-only TensorFlow (GPU build: %v, %v)", gpu, err)
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var log bytes.Buffer
	cfg := DefaultConfig()
	if err := checkDevice(cfg, newLogger(progress.Lines(&log, ""))); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "note: this machine has an NVIDIA GPU, but the linked TensorFlow library is a CPU-only build"); n != 1 {
		t.Errorf("auto said the note %d times, want once:\n%s", n, log.String())
	}
	cfg.Device = DeviceGPU
	if err := checkDevice(cfg, newLogger(progress.Lines(&log, ""))); !errors.Is(err, devices.ErrNoGPU) || !strings.Contains(err.Error(), "CPU-only build although this machine has an NVIDIA GPU") {
		t.Errorf("gpu: %v", err)
	}
}
