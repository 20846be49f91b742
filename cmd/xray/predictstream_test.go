package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// streamLine is one line of predict's JSON Lines output.
type streamLine struct {
	File          string     `json:"file"`
	Class         string     `json:"class"`
	Probabilities [2]float64 `json:"probabilities"`
	Error         string     `json:"error"`
}

// readLines parses a JSON Lines output; every line must parse.
func readLines(t *testing.T, path string) []streamLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamLine
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r streamLine
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.File == "" {
			t.Fatalf("%s line %d %q: %v", path, i+1, l, err)
		}
		out = append(out, r)
	}
	return out
}

// imageDir fills a new directory with n links to the test X-rays (each file is read
// anew, as in an archive) plus links to the bad files, and returns it with the number of
// bad ones.
func imageDir(t *testing.T, n int) (dir string, bad int) {
	t.Helper()
	xrays, err := filepath.Glob("../../testdata/chest_xray/*/*/*.jpeg")
	if err != nil || len(xrays) < 100 {
		t.Fatalf("X-rays in testdata: %d, %v", len(xrays), err)
	}
	dir = t.TempDir()
	link := func(src, name string) {
		abs, err := filepath.Abs(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		link(xrays[i%len(xrays)], fmt.Sprintf("%05d-%s", i, filepath.Base(xrays[i%len(xrays)])))
	}
	badFiles := []string{"empty.jpeg", "notes.jpeg", "truncated.jpeg"}
	for _, b := range badFiles {
		link(filepath.Join("../../testdata/bad", b), "bad-"+b)
	}
	return dir, len(badFiles)
}

// tinySavedModel exports a tiny model at input size.
func tinySavedModel(t *testing.T, size int) string {
	t.Helper()
	m, sess := savedmodelstest.TinyModel(t, size, 5)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "stream"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// countLines is the number of whole lines in path (0 when it does not exist yet).
func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte{'\n'})
}

// TestPredictStreamKillResume: 640+ files through --input DIR; a real xray process is
// killed (SIGKILL) at a random moment while writing, then --resume finishes the file:
// every file exactly once, with the probabilities of an uninterrupted run.
func TestPredictStreamKillResume(t *testing.T) {
	model := tinySavedModel(t, 32)
	in, nbad := imageDir(t, 644)
	total := 644 + nbad
	full := filepath.Join(t.TempDir(), "full.jsonl")
	if code, _, stderr := runCLI(t, "predict", "--savedmodel", model, "--input", in, "--out", full); code != exitFailure || !strings.Contains(stderr, fmt.Sprintf("%d of %d images could not be predicted", nbad, total)) {
		t.Fatalf("uninterrupted run: exit %d, %s", code, stderr)
	}
	want := map[string]streamLine{}
	for _, l := range readLines(t, full) {
		want[l.File] = l
	}
	if len(want) != total {
		t.Fatalf("uninterrupted run: %d distinct files, want %d", len(want), total)
	}

	out := filepath.Join(t.TempDir(), "preds.jsonl")
	killed := false
	for attempt := 0; attempt < 5 && !killed; attempt++ {
		os.Remove(out)
		cmd := xrayCommand("predict", "--savedmodel", model, "--input", in, "--out", out, "--batch", "8")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		deadline := time.Now().Add(2 * time.Minute)
		for countLines(out) == 0 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(300>>attempt)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		b, _ := os.ReadFile(out)
		n := bytes.Count(b, []byte{'\n'})
		killed = n < total
		t.Logf("attempt %d: killed after %d of %d lines, torn tail %v", attempt, n, total, len(b) > 0 && b[len(b)-1] != '\n')
	}
	if !killed {
		t.Fatal("the process finished before every kill: nothing to resume")
	}

	code, _, stderr := runCLI(t, "predict", "--savedmodel", model, "--input", in, "--out", out, "--resume")
	if code != exitFailure || !strings.Contains(stderr, "resuming") {
		t.Fatalf("resume: exit %d, %s", code, stderr)
	}
	seen := map[string]bool{}
	for _, l := range readLines(t, out) {
		if seen[l.File] {
			t.Errorf("%s twice", l.File)
		}
		seen[l.File] = true
		w, ok := want[l.File]
		switch {
		case !ok:
			t.Errorf("%s: not an input file", l.File)
		case (w.Error == "") != (l.Error == ""):
			t.Errorf("%s: error %q, uninterrupted %q", l.File, l.Error, w.Error)
		case w.Error == "":
			approx.Within(t, l.File+": probabilities vs uninterrupted run", l.Probabilities[:], w.Probabilities[:], approx.Abs, 1e-6)
		}
	}
	if len(seen) != total {
		t.Errorf("%d files after resume, want %d", len(seen), total)
	}
}

// TestPredictStreamList: a list file's missing, undecodable and directory entries get
// their error lines, the others their predictions (the live graph's), in list order.
func TestPredictStreamList(t *testing.T) {
	dir, files, want := predictFixture(t)
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing.jpeg")
	list := filepath.Join(tmp, "scans.txt")
	entries := []string{files[0], missing, "../../testdata/bad/notes.jpeg", files[1], tmp, files[2]}
	body := "# archive 2019\n" + strings.Join(entries[:3], "\n") + "\n\n" + strings.Join(entries[3:], "\r\n") + "\n"
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "preds.jsonl")
	code, stdout, stderr := runCLI(t, "predict", "--savedmodel", dir, "--input", list, "--out", out)
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "3 of 6 images could not be predicted") {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	lines := readLines(t, out)
	if len(lines) != len(entries) {
		t.Fatalf("%d lines for %d entries", len(lines), len(entries))
	}
	good := map[string][]float32{files[0]: want[0], files[1]: want[1], files[2]: want[2]}
	for i, l := range lines {
		if l.File != entries[i] {
			t.Errorf("line %d is %s, want %s", i+1, l.File, entries[i])
		}
		if p, ok := good[l.File]; ok {
			approx.Within(t, l.File+": probabilities vs live graph", l.Probabilities[:], p, approx.Abs, 1e-5)
		} else if l.Error == "" {
			t.Errorf("%s: no error line", l.File)
		}
	}

	// Without --out the lines go to stdout, in the argument mode's formats.
	code, stdout, _ = runCLI(t, "predict", "--savedmodel", dir, "--input", list)
	if n := strings.Count(stdout, "\terror\t"); code != exitFailure || n != 3 || strings.Count(stdout, "\n") != 6 {
		t.Errorf("text to stdout: exit %d, %d error lines:\n%s", code, n, stdout)
	}

	// The list on standard input (a real process), JSON Lines to stdout: the file's lines.
	cmd := xrayCommand("predict", "--savedmodel", dir, "--input", "-", "--json")
	cmd.Stdin = strings.NewReader(body)
	got, err := cmd.Output()
	if file, _ := os.ReadFile(out); string(got) != string(file) || cmd.ProcessState.ExitCode() != exitFailure {
		t.Errorf("--input - --json: exit %d (%v), stdout:\n%s\nwant the --out file's lines:\n%s", cmd.ProcessState.ExitCode(), err, got, file)
	}
}

func TestPredictStreamUsage(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done.jsonl")
	if err := os.WriteFile(done, []byte(`{"file":"a.jpeg","error":"x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := tinySavedModel(t, 32)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", dir, "x.jpeg"}, "not both"},
		{[]string{"--input", dir, "--resume"}, "--resume needs --out"},
		{[]string{"--input", filepath.Join(dir, "none")}, "no such file or directory"},
		{[]string{"--input", filepath.Join(dir, "*.png")}, "matches no file"},
		{[]string{"--input", dir, "--out", done}, "add --resume"},
	} {
		code, _, stderr := runCLI(t, append([]string{"predict", "--savedmodel", model}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d %q, want exit %d mentioning %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// TestPredictStreamMemoryFlat: streaming 5,000+ files, the process's RSS (read from
// /proc while it runs) once three quarters are written is at most 1.5 times what it was
// at a quarter: memory is bounded by the batches in flight, not by the file count. At
// 128 px, holding each file's pixels would add 196 KB a file, 750 MB over the last half.
func TestPredictStreamMemoryFlat(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatalf("this test reads the process's RSS from /proc (Linux): %v", err)
	}
	model := tinySavedModel(t, 128)
	in, nbad := imageDir(t, 5152)
	total := 5152 + nbad
	out := filepath.Join(t.TempDir(), "preds.jsonl")
	cmd := xrayCommand("predict", "--savedmodel", model, "--input", in, "--out", out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error)
	go func() { exited <- cmd.Wait() }()
	var early, late int // max RSS, kB, with 1/4..1/2 and >= 3/4 of the lines written
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var err error
sample:
	for {
		select {
		case err = <-exited:
			break sample
		case <-time.After(20 * time.Millisecond):
		}
		rss, n := vmRSS(status), countLines(out)
		switch {
		case n >= total/4 && n <= total/2:
			early = max(early, rss)
		case n >= 3*total/4:
			late = max(late, rss)
		}
	}
	if n := countLines(out); err == nil || n != total {
		t.Fatalf("%d of %d lines, exit %v (want exit 1: the bad files)", n, total, err)
	}
	t.Logf("RSS %d MB at 1/4-1/2 of %d files, %d MB from 3/4 on", early>>10, total, late>>10)
	if early == 0 || late == 0 {
		t.Fatalf("no RSS samples in a window (early %d kB, late %d kB): the run was too quick to sample", early, late)
	}
	if float64(late) > 1.5*float64(early) {
		t.Errorf("RSS grew from %d MB to %d MB: more than 1.5x", early>>10, late>>10)
	}
}

// vmRSS reads VmRSS (kB) from a /proc/PID/status file; 0 when the process is gone.
func vmRSS(status string) int {
	f, err := os.Open(status)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb
		}
	}
	return 0
}
