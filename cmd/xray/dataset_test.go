package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatasetSplitCLI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "manifest.csv")
	code, stdout, stderr := runCLI(t, "dataset", "split", "--data", filepath.Join("..", "..", "testdata", "chest_xray"), "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// testdata holds 79 normal + 82 pneumonia images; the paper's shares per class:
	// test round(79*345/1583) = 17, round(82*815/4273) = 16; val round(79*248/1583) = 12,
	// round(82*692/4273) = 13.
	for _, line := range []string{
		"split     normal  pneumonia   total",
		"train         50         53     103",
		"val           12         13      25",
		"test          17         16      33",
		"total         79         82     161",
		"skipped: 0",
		"patients in more than one split: ",
		"wrote " + out + " (kaggle layout, scheme paper, seed 42)",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("output lacks %q:\n%s", line, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 1+161 || !strings.HasPrefix(string(b), "path,") {
		t.Errorf("manifest has %d lines, want a header + 161 rows", lines)
	}
	// Same seed, same bytes.
	again := filepath.Join(filepath.Dir(out), "again.csv")
	if code, _, stderr := runCLI(t, "dataset", "split", "--data", filepath.Join("..", "..", "testdata", "chest_xray"), "--out", again); code != exitOK {
		t.Fatal(stderr)
	}
	if b2, _ := os.ReadFile(again); string(b2) != string(b) {
		t.Error("same seed wrote a different manifest")
	}
}

// The kaggle scheme keeps testdata's folders: 60 + 62 train, 3 + 3 val, 16 + 17 test.
func TestDatasetSplitCLIKaggle(t *testing.T) {
	out := filepath.Join(t.TempDir(), "manifest.csv")
	code, stdout, stderr := runCLI(t, "dataset", "split", "--data", filepath.Join("..", "..", "testdata", "chest_xray"),
		"--out", out, "--scheme", "kaggle", "--val-from-folder")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, line := range []string{
		"train         60         62     122",
		"val            3          3       6",
		"test          16         17      33",
		"wrote " + out + " (kaggle layout, scheme kaggle, seed 42)",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("output lacks %q:\n%s", line, stdout)
		}
	}
}

// --classes normal,bacterial,viral: the counts of each cause are the file names' own.
func TestDatasetSplitCLIThreeClasses(t *testing.T) {
	data := filepath.Join("..", "..", "testdata", "chest_xray")
	out := filepath.Join(t.TempDir(), "manifest.csv")
	code, stdout, stderr := runCLI(t, "dataset", "split", "--data", data, "--out", out, "--scheme", "patient", "--classes", "normal,bacterial,viral")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	count := func(pattern string) int {
		m, _ := filepath.Glob(filepath.Join(data, "*", pattern))
		return len(m)
	}
	normal, bact, virus := count("NORMAL/*"), count("PNEUMONIA/*_bacteria_*"), count("PNEUMONIA/*_virus_*")
	want := fmt.Sprintf("total  %9d %10d %9d %7d", normal, bact, virus, normal+bact+virus)
	if !strings.Contains(stdout, "split     normal  bacterial     viral   total") || !strings.Contains(stdout, want) {
		t.Errorf("output lacks the three-class header or %q:\n%s", want, stdout)
	}
	b, _ := os.ReadFile(out)
	if strings.Count(string(b), ",bacterial,") != bact || strings.Count(string(b), ",viral,") != virus {
		t.Errorf("manifest labels: %d bacterial, %d viral rows; want %d, %d", strings.Count(string(b), ",bacterial,"), strings.Count(string(b), ",viral,"), bact, virus)
	}
}

func TestDatasetSplitCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(bad, "NORMAL"), 0o755)
	good, err := os.ReadFile(filepath.Join("..", "..", "testdata", "formats", "gray.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bad, "NORMAL", "IM-0001-0001.jpeg"), good, 0o644)
	out := filepath.Join(dir, "m.csv")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dataset", "split", "--out", out}, exitUsage, `Required flag "data"`},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--scheme", "random"}, exitUsage, "use paper, stratified, patient or kaggle"},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--test-fraction", "0.3"}, exitUsage, "apply to --scheme stratified, patient or kaggle"},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--scheme", "kaggle", "--test-fraction", "0.3"}, exitUsage, "its test split is the test/ folder"},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--val-from-folder"}, exitUsage, "--val-from-folder goes with --scheme kaggle"},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--scheme", "patient", "--val-fraction", "1.5"}, exitUsage, "--val-fraction 1.5"},
		{[]string{"dataset"}, exitUsage, "missing subcommand"},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--classes", "normal,covid"}, exitUsage, "--classes: classes the data cannot label: normal,covid; use normal,pneumonia or normal,bacterial,viral"},
		{[]string{"dataset", "split", "--data", bad, "--out", out, "--classes", "normal"}, exitUsage, "--classes: labels: 1 class names"},
		{[]string{"dataset", "split", "--data", bad, "--out", out}, exitFailure, "no PNEUMONIA/ folder; expected chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/"},
		{[]string{"dataset", "split", "--data", filepath.Join(dir, "none"), "--out", out}, exitFailure, "not found"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, one line with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a failed split left a manifest behind")
	}

	// A bad file is skipped with a warning and counted, and the split still succeeds.
	tree := filepath.Join(dir, "skips")
	for _, cls := range []string{"NORMAL", "PNEUMONIA"} {
		os.MkdirAll(filepath.Join(tree, cls), 0o755)
		os.WriteFile(filepath.Join(tree, cls, "a.jpeg"), good, 0o644)
	}
	os.WriteFile(filepath.Join(tree, "NORMAL", "empty.jpeg"), nil, 0o644)
	code, stdout, stderr := runCLI(t, "dataset", "split", "--data", tree, "--out", out)
	if code != exitOK || !strings.Contains(stdout, "skipped: 1 (see log)") ||
		strings.TrimSpace(stderr) != "xray: warning: skipped NORMAL/empty.jpeg: empty file" {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %q", code, stdout, stderr)
	}
	// Three classes need the cause in every PNEUMONIA file name.
	code, _, stderr = runCLI(t, "dataset", "split", "--data", tree, "--out", out, "--classes", "normal,bacterial,viral")
	if code != exitFailure || !strings.Contains(stderr, "PNEUMONIA/a.jpeg") || !strings.Contains(stderr, "neither bacteria nor virus") {
		t.Errorf("three classes on unnamed files: exit %d, stderr %q", code, stderr)
	}
}
