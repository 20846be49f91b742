package trainer

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/xraylab/xray/progress"
)

// mlirLine is what TensorFlow 2.18's C++ library prints, once per process, at the first
// session run, through an Abseil copy that no setting reaches (internal/tflog).
const mlirLine = "MLIR V1 optimization pass is not enabled"

// TestLibraryQuiet: a program that trains through this package without cmd/xray (this
// test binary, run again as a child that trains one step and exports) prints neither
// TensorFlow's MLIR line nor Abseil's banner on standard error, its own standard error
// stays, and the run's lines reach the Logger it hands in; with TF_CPP_MIN_LOG_LEVEL=0
// the same child prints the line, so the check can fail. preprocess has the same test
// for its sessions.
func TestLibraryQuiet(t *testing.T) {
	if os.Getenv("XRAY_TFLOG_CHILD") == "1" {
		cfg := tinyConfig(t)
		cfg.Epochs, cfg.MaxSteps = 1, 1
		cfg.Logger = progress.Lines(os.Stdout, "")
		os.Stderr.WriteString("child: before\n")
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		os.Stderr.WriteString("child: after\n")
		return
	}
	if testing.Short() {
		t.Skip("-short: trains MobileNet in two child processes")
	}
	child := func(level string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryQuiet$", "-test.count=1")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TF_CPP_MIN_LOG_LEVEL=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "XRAY_TFLOG_CHILD=1")
		if level != "" {
			cmd.Env = append(cmd.Env, "TF_CPP_MIN_LOG_LEVEL="+level)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("child (TF_CPP_MIN_LOG_LEVEL=%q): %v\nstdout: %s\nstderr: %s", level, err, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	stdout, quiet := child("") // the variable unset, as in a program run without bin/xray's launcher
	if strings.Contains(quiet, mlirLine) || strings.Contains(quiet, "absl::InitializeLog") {
		t.Errorf("a library-only training program prints TensorFlow's once-per-process lines:\n%s", quiet)
	}
	if b, a := strings.Index(quiet, "child: before\n"), strings.Index(quiet, "child: after\n"); b < 0 || a < b {
		t.Errorf("the program's own standard error lost or reordered:\n%s", quiet)
	}
	for _, line := range []string{"\nepoch 1/1  loss ", "\nstopping: step limit 1 reached\n", "\nbest epoch 1 (val_loss "} {
		if !strings.Contains(stdout, line) {
			t.Errorf("the run's Logger did not get %q:\n%s", strings.TrimSpace(line), stdout)
		}
	}
	if _, loud := child("0"); !strings.Contains(loud, mlirLine) {
		t.Errorf("with TF_CPP_MIN_LOG_LEVEL=0 the child does not print %q, so the quiet run proves nothing:\n%s", mlirLine, loud)
	}
}
