package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreprocessFlag: an unknown --preprocess is a usage error naming the flag and the
// choices, given before anything is read or written.
func TestPreprocessFlag(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	for _, args := range [][]string{
		{"train", "--data", filepath.Join(dir, "none"), "--out", out, "--preprocess", "caffe"},
		{"import-keras", "--arch", "mobilenet", "--weights", filepath.Join(dir, "none.h5"), "--out", out, "--preprocess", "caffe"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "--preprocess") || !strings.Contains(stderr, "paper") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want one usage line naming --preprocess and its choices", args[0], code, stderr)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s with a bad --preprocess created %s", args[0], out)
		}
	}
}
