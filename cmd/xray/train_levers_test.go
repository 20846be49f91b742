package main

import (
	"strings"
	"testing"
)

// TestTrainLeverUsage: a bad lever value, from a flag or XRAY_<FLAG>, is a usage error
// (exit 2) naming the flag, before any data is read.
func TestTrainLeverUsage(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"--optimizer", "rmsprop"}, "--optimizer rmsprop: want sgd, adam or adamw"},
		{"", []string{"--class-weight", "1,x"}, `--class-weight 1,x: "x" is not a positive number`},
		{"", []string{"--lr-schedule", "step"}, "--lr-schedule step:"},
		{"", []string{"--epochs", "3", "--warmup-epochs", "3"}, "--warmup-epochs 3: must be at least 0 and fewer than the 3 epochs"},
		{"", []string{"--optimizer", "adam", "--momentum", "0.9"}, "--momentum 0.9: applies to sgd only"},
		{"", []string{"--label-smoothing", "1"}, "--label-smoothing 1:"},
		{"XRAY_MONITOR=loss", nil, "--monitor loss: want val_loss, val_auc or val_accuracy"},
		{"XRAY_PRECISION=bfloat16", nil, `--precision "bfloat16": unknown precision policy: use float32, mixed_bfloat16 or mixed_float16`},
		{"", []string{"--precision", "mixed_float16", "--devices", "2"}, "--precision mixed_float16: has no loss scaling across replicas"},
	} {
		if c.env != "" {
			k, v, _ := strings.Cut(c.env, "=")
			t.Setenv(k, v)
		}
		code, _, stderr := runCLI(t, append([]string{"train", "--data", t.TempDir(), "--out", t.TempDir()}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s %v: exit %d, stderr %q; want 2 and one line with %q", c.env, c.args, code, stderr, c.want)
		}
	}
}
