package main

import (
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/tfgraph"
)

// TestTrainFlagErrors: an invalid value of each setting trainer.Config.Validate checks is
// a one-line usage error (exit 2) naming the flag, given before anything is written.
func TestTrainFlagErrors(t *testing.T) {
	data := filepath.Join("..", "..", "testdata", "chest_xray")
	manifest := filepath.Join(t.TempDir(), "split.csv")
	if code, _, stderr := runCLI(t, "dataset", "split", "--data", data, "--out", manifest); code != exitOK {
		t.Fatalf("dataset split: %s", stderr)
	}
	small := tfgraph.MinInputSize(tfgraph.MobileNet) - 1
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", ""}, "--data is required"},
		{[]string{"--epochs", "0"}, "--epochs 0: must be at least 1"},
		{[]string{"--batch-size", "0"}, "--batch-size 0: must be at least 1"},
		{[]string{"--lr", "0"}, "--lr 0: must be positive"},
		{[]string{"--momentum", "1"}, "--momentum 1: must be in [0, 1)"},
		{[]string{"--out", ""}, "--out is required"},
		{[]string{"--max-steps", "-1"}, "--max-steps -1: must be positive"},
		{[]string{"--early-stopping", "-2"}, "--early-stopping -2: must be positive"},
		{[]string{"--threads", "-1"}, "--threads -1: must be positive"},
		{[]string{"--cache-memory", "lots"}, `--cache-memory "lots": not a size`},
		{[]string{"--device", "tpu"}, "--device tpu: unknown device"},
		{[]string{"--arch", "vgg16"}, `--arch "vgg16": unknown architecture`},
		{[]string{"--pool", "sum"}, `--pool "sum": unknown head pooling`},
		{[]string{"--input-size", "-5"}, "--input-size -5: is negative"},
		{[]string{"--input-size", fmt.Sprint(small)}, fmt.Sprintf("--input-size %d: too small for mobilenet", small)},
		{[]string{"--preprocess", "zscore"}, `--preprocess: unknown scaling "zscore"`},
		{[]string{"--scheme", "bogus"}, "--scheme bogus: "},
		{[]string{"--val-from-folder"}, "--val-from-folder: "},
		{[]string{"--data", "", "--manifest", manifest, "--scheme", "patient"}, "--scheme patient: applies only without a manifest"},
		{[]string{"--weights", filepath.Join(t.TempDir(), "absent.h5")}, "no such weight file"},
		{[]string{"--init", filepath.Join(t.TempDir(), "absent.keras")}, "cannot read the model file"},
		{[]string{"--freeze-base", "--weights", "none"}, "--freeze-base: needs trained base weights"},
	} {
		name := strings.Join(tc.args, " ")
		out := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "--data", data, "--out", out, "--weights", "none", "--quiet"}, tc.args...)
		code, stdout, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.HasPrefix(stderr, "xray: usage: ") || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one usage line containing %q", name, code, stderr, exitUsage, tc.want)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the run directory was created before the settings were checked (%v); stdout:\n%s", name, err, stdout)
		}
	}
}

// TestFlagForNamesTrainFlags: every field the mapping knows is a flag of xray train.
func TestFlagForNamesTrainFlags(t *testing.T) {
	flags := map[string]bool{}
	for _, c := range commands {
		if c.Name == "train" {
			for _, f := range c.Flags {
				flags[f.Names()[0]] = true
			}
		}
	}
	for field, flag := range flagFor {
		if !flags[flag] {
			t.Errorf("flagFor[%q] = %q, which xray train does not define", field, flag)
		}
	}
}

// TestLibrariesDoNotNameFlags: outside cmd/ no string literal names an xray flag; the
// library says what is wrong in its own words and cmd/xray maps it to a flag.
func TestLibrariesDoNotNameFlags(t *testing.T) {
	flags := map[string]bool{}
	var walk func(cs []*cli.Command)
	walk = func(cs []*cli.Command) {
		for _, c := range cs {
			for _, f := range c.Flags {
				for _, n := range f.Names() {
					flags[n] = true
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(newApp(nil, nil).Commands)
	flagRE := regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || rel == "cmd" || rel == "bench" || rel == "examples") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fset.AddFile(path, -1, len(src)), src, nil, 0)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				return nil
			}
			if tok != token.STRING {
				continue
			}
			for _, m := range flagRE.FindAllStringSubmatch(lit, -1) {
				if flags[m[1]] {
					t.Errorf("%s: string %s names the flag --%s", fset.Position(pos), lit, m[1])
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTrainDivergedExit: a run whose loss goes NaN (learning rate 1e6) ends with exit 1
// and one line saying it diverged, and exports nothing.
func TestTrainDivergedExit(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a few steps")
	}
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, "train", "--data", filepath.Join("..", "..", "testdata", "chest_xray"), "--out", out,
		"--weights", "none", "--input-size", "128", "--batch-size", "4", "--epochs", "1", "--max-steps", "3", "--lr", "1e6", "--quiet")
	if code != exitFailure || !strings.HasPrefix(stderr, "xray: error: ") || !strings.Contains(stderr, "diverged") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want exit %d and one line saying it diverged", code, stderr, exitFailure)
	}
	if strings.Contains(stdout, "best epoch") {
		t.Errorf("stdout names a best epoch:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "savedmodel")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("savedmodel exported after divergence (%v)", err)
	}
}
