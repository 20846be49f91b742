package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/internal/devices/devicestest"
	"github.com/xraylab/xray/internal/pyref"
)

func gpuVisible(t *testing.T) bool {
	t.Helper()
	devs, err := devices.Probe(nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(devices.GPUs(devs)) > 0
}

// xray train --device gpu where TensorFlow sees no GPU: exit 1 with one line naming the
// flag, the cause and 'xray version', and no output folder.
func TestTrainDeviceGPUWithoutGPU(t *testing.T) {
	if gpuVisible(t) {
		t.Skip("TensorFlow sees a GPU here: the no-GPU error cannot happen")
	}
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, "train", "--device", "gpu", "--data", filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray"), "--out", out)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailure, stdout, stderr)
	}
	for _, want := range []string{"--device gpu: TensorFlow sees no GPU: ", "'xray version'", "--device auto"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, stderr)
		}
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("want one line, got %q", stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--out %s was touched: %v", out, err)
	}
}

// xray version lists the devices Python TensorFlow sees (CPU here) and the build kind.
func TestVersionListsDevices(t *testing.T) {
	ref := devicestest.Run(t)
	code, stdout, stderr := runCLI(t, "version")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var line string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "devices: ") {
			line = l
		}
	}
	for _, cpu := range ref.CPUs() {
		name := strings.Fields(cpu)[0]
		if !strings.Contains(line, name) {
			t.Errorf("devices line %q lacks Python TensorFlow's %s", line, name)
		}
	}
	kind := map[bool]string{true: "GPU build", false: "CPU-only build"}[ref.IsCUDABuild]
	if !strings.Contains(stdout, kind) {
		t.Errorf("version does not say %q (tf.test.is_built_with_cuda() = %v):\n%s", kind, ref.IsCUDABuild, stdout)
	}
	if !gpuVisible(t) && !strings.Contains(stdout, "GPU: none: ") {
		t.Errorf("version does not say why there is no GPU:\n%s", stdout)
	}
}
