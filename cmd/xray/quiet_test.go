package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTensorFlowQuiet runs the built binary as bin/xray's launcher does
// (TF_CPP_MIN_LOG_LEVEL=2): xray train and xray predict print nothing of TensorFlow's
// own on stderr, and with --verbose TensorFlow's first-session lines are there.
func TestTensorFlowQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds xray and trains a step")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "xray")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	xray := func(args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=2", "XRAY_VERBOSE=")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("xray %s: %v\n%s%s", strings.Join(args, " "), err, o.String(), e.String())
		}
		return o.String(), e.String()
	}
	noise := []string{"absl::InitializeLog", "mlir_graph_optimization_pass", "I0000"}
	data := filepath.Join("..", "..", "testdata", "chest_xray")
	out := filepath.Join(dir, "run")
	stdout, stderr := xray("train", "--data", data, "--out", out, "--weights", "none", "--input-size", "128",
		"--epochs", "1", "--max-steps", "1", "--quiet")
	if !strings.Contains(stdout, "epoch 1/1") {
		t.Fatalf("xray train did not train:\n%s", stdout)
	}
	image := filepath.Join(data, "test", "NORMAL", "IM-0226-0001.jpeg")
	_, pstderr := xray("predict", "--savedmodel", filepath.Join(out, "savedmodel"), image)
	for what, s := range map[string]string{"train": stderr, "predict": pstderr} {
		for _, n := range noise {
			if strings.Contains(s, n) {
				t.Errorf("xray %s printed TensorFlow's log lines (%q):\n%s", what, n, s)
			}
		}
	}
	_, vstderr := xray("--verbose", "predict", "--savedmodel", filepath.Join(out, "savedmodel"), image)
	if !strings.Contains(vstderr, "MLIR V1 optimization pass") {
		t.Errorf("xray --verbose predict hid TensorFlow's log lines:\n%s", vstderr)
	}
}
