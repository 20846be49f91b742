package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/evaluator"
)

func TestCompareCLI(t *testing.T) {
	mk := func(arch string, recs []evaluator.Record) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"arch":"`+arch+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := evaluator.Evaluate(recs, evaluator.Options{Split: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := evaluator.WriteOutputs(filepath.Join(dir, "eval-test"), rep); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	recs := paperMobileNetCSV(t, filepath.Join(t.TempDir(), "p.csv"))
	a := mk("mobilenet", recs)
	b := mk("xception", recs[:1000]) // another set of images
	out := filepath.Join(t.TempDir(), "cmp")
	code, stdout, stderr := runCLI(t, "compare", "--out", out, a, b)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"| ours: " + a + " | mobilenet | 1160 | 330 / 15 / 29 / 786 | 0.962 |",
		"| ours: " + b + " | xception | 1000 |",
		"| *paper* | xception | 1160 | 304 / 39 / 26 / 791 | 0.944 |",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("compare output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "warning: runs were not evaluated on the same test split") {
		t.Errorf("no split warning: %s", stderr)
	}
	for _, f := range []string{"compare.md", "compare.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	if code, _, stderr := runCLI(t, "compare"); code != exitUsage {
		t.Errorf("no runs: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "compare", t.TempDir()); code != exitFailure || !strings.Contains(stderr, "xray evaluate") {
		t.Errorf("run without metrics: exit %d %s", code, stderr)
	}
}
