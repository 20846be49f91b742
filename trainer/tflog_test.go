package trainer

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/tflog/tflogtest"
	"github.com/xraylab/xray/progress"
)

// TestLibraryQuiet: a program that trains through this package without cmd/xray (this
// test binary, run again as a child that trains one step and exports) prints neither
// TensorFlow's MLIR line nor Abseil's banner on standard error, its own standard error
// stays, and the run's lines reach the Logger it hands in; with TF_CPP_MIN_LOG_LEVEL=0
// the same child prints the line, so the check can fail. preprocess has the same test
// for its sessions.
func TestLibraryQuiet(t *testing.T) {
	if tflogtest.InChild() {
		cfg := tinyConfig(t)
		cfg.Epochs, cfg.MaxSteps = 1, 1
		cfg.Logger = progress.Lines(os.Stdout, "")
		tflogtest.Child(func() {
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
		})
		return
	}
	if testing.Short() {
		t.Skip("-short: trains MobileNet in two child processes")
	}
	stdout := tflogtest.Check(t, "TestLibraryQuiet")
	for _, line := range []string{"\nepoch 1/1  loss ", "\nstopping: step limit 1 reached\n", "\nbest epoch 1 (val_loss "} {
		if !strings.Contains(stdout, line) {
			t.Errorf("the run's Logger did not get %q:\n%s", strings.TrimSpace(line), stdout)
		}
	}
}
