package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestShiftAdaptFlags: the adaptation flags of evaluate --shift are usage errors naming
// the flag that fixes them, before any model runs (the report itself is checked in
// evaluator/shift's TestShiftAdapt).
func TestShiftAdaptFlags(t *testing.T) {
	sm := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--adapt-split", "val"}, "--adapt-split goes with --shift"},
		{[]string{"--shift", "--adapt-mode", "batch"}, "--adapt-mode goes with --adapt-split"},
		{[]string{"--shift", "--adapt-split", "test"}, "--adapt-split test: is the evaluated split"},
		{[]string{"--shift", "--split", "val", "--adapt-split", "val"}, "--adapt-split val: is the evaluated split"},
		{[]string{"--shift", "--adapt-split", "train", "--adapt-images", "8"}, "--adapt-images 8: give at least 32 images"},
		{[]string{"--shift", "--split", "all", "--adapt-split", "train"}, "--adapt-split train: the evaluated split is all images"},
	} {
		code, _, stderr := runCLI(t, append([]string{"evaluate", "--savedmodel", sm, "--manifest", filepath.Join(sm, "m.csv")}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want usage error %q", c.args, code, stderr, c.want)
		}
	}
	code, stdout, _ := runCLI(t, "evaluate", "--help")
	if code != exitOK || !strings.Contains(stdout, "--adapt-split NAME") || !strings.Contains(stdout, "--shift --adapt-split val") {
		t.Errorf("evaluate --help does not show --adapt-split with an example")
	}
}
