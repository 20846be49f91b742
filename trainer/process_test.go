package trainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
)

// These tests run the real `xray train` binary as a subprocess and stop it the hard way
// (SIGKILL) and the polite way (SIGINT), then continue it with --resume.

var (
	binDir  string
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xray-trainer-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// xrayBinary builds cmd/xray once per test binary.
func xrayBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "xray")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/xray")
		cmd.Dir = pyref.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/xray: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// procFixture is a small training job: 24 sample X-rays to train on (6 steps of 4 per
// epoch), 8 to validate, MobileNet at 128 from scratch, 4 epochs.
type procFixture struct {
	manifest string
	epochs   int
	extra    []string // flags every run of the test adds
}

var (
	procOnce sync.Once
	procFix  procFixture
	procDir  string
)

func (f procFixture) args(out string, extra ...string) []string {
	return append([]string{"train", "--manifest", f.manifest, "--weights", "none", "--arch", tfgraph.MobileNet,
		"--input-size", "128", "--batch-size", "4", "--epochs", strconv.Itoa(f.epochs), "--quiet", "--out", out}, append(f.extra, extra...)...)
}

func processFixture(t *testing.T) procFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs xray train several times")
	}
	procOnce.Do(func() {
		procDir = filepath.Join(binDir, "fixture")
		imgs := sampleImages(t)
		entries := append(interleave(imgs, 0, 24, dataset.Train), interleave(imgs, 12, 8, dataset.Val)...)
		if err := os.MkdirAll(procDir, 0o755); err != nil {
			t.Fatal(err)
		}
		procFix = procFixture{manifest: writeManifest(t, filepath.Join(procDir, "manifest.csv"), sampleRoot(), entries), epochs: 4}
	})
	return procFix
}

// runXray runs xray to completion and returns its stdout, stderr and exit code.
func runXray(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(xrayBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var (
	refOnce sync.Once
	refHist [][]float64
)

// uninterrupted is the history of the fixture's run from start to end.
func uninterrupted(t *testing.T, f procFixture) [][]float64 {
	t.Helper()
	refOnce.Do(func() {
		out := filepath.Join(binDir, "uninterrupted")
		stdout, stderr, code := runXray(t, f.args(out)...)
		if code != 0 {
			t.Fatalf("uninterrupted run: exit %d\n%s\n%s", code, stdout, stderr)
		}
		refHist = readHistory(t, filepath.Join(out, "history.csv"))
	})
	if refHist == nil {
		t.Fatal("the uninterrupted reference run failed")
	}
	return refHist
}

// stopDuringEpoch2 starts a run, waits for the first epoch's checkpoint, lets epoch 2
// begin and sends sig. It returns the exit state and stderr.
func stopDuringEpoch2(t *testing.T, f procFixture, out string, sig syscall.Signal) (*os.ProcessState, string) {
	t.Helper()
	cmd := exec.Command(xrayBinary(t), f.args(out)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	first := filepath.Join(out, "checkpoints", checkpoint.Name(1))
	deadline := time.After(5 * time.Minute)
	for {
		if _, err := os.Stat(first); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("xray train ended (%v) before its first checkpoint:\n%s", err, stderr.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no first checkpoint after 5 minutes")
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(400 * time.Millisecond) // into epoch 2's steps
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-done
	ckpts, _ := filepath.Glob(filepath.Join(out, "checkpoints", "*"))
	t.Logf("stopped with %v; files then: %v", sig, baseNames(ckpts))
	return cmd.ProcessState, stderr.String()
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// checkRunDir asserts a finished run directory is whole: every checkpoint reads, the
// history has each epoch once in order and equals want in its metric columns, run.json
// parses and says finished, curves.png decodes.
func checkRunDir(t *testing.T, out string, want [][]float64) {
	t.Helper()
	ckpts, _ := filepath.Glob(filepath.Join(out, "checkpoints", "*.ckpt"))
	if len(ckpts) == 0 {
		t.Error("no checkpoints")
	}
	for _, p := range ckpts {
		if _, _, err := checkpoint.Read(p); err != nil {
			t.Errorf("%v", err)
		}
	}
	got := readHistory(t, filepath.Join(out, "history.csv"))
	if len(got) != len(want) {
		t.Fatalf("history has %d epochs, the uninterrupted run %d", len(got), len(want))
	}
	for i := range got {
		if int(got[i][0]) != i+1 {
			t.Errorf("history row %d is epoch %v", i+1, got[i][0])
		}
		// loss, accuracy, val_loss, val_accuracy, val_auc, lr: bit for bit as written (8 digits).
		for c := 1; c <= 6; c++ {
			if got[i][c] != want[i][c] && !(math.IsNaN(got[i][c]) && math.IsNaN(want[i][c])) { // val_auc: NaN with one class
				t.Errorf("epoch %d column %d: %v, uninterrupted %v", i+1, c, got[i][c], want[i][c])
			}
		}
	}
	var rj struct {
		Finished   bool `json:"finished"`
		EpochsDone int  `json:"epochs_done"`
	}
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rj); err != nil {
		t.Errorf("run.json: %v", err)
	}
	if !rj.Finished || rj.EpochsDone != len(want) {
		t.Errorf("run.json: finished %v after %d epochs, want true after %d", rj.Finished, rj.EpochsDone, len(want))
	}
	pf, err := os.Open(filepath.Join(out, "curves.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := png.Decode(pf); err != nil {
		t.Errorf("curves.png: %v", err)
	}
}

// TestKillAndResume: kill -9 during epoch 2, --resume to the end: the history equals an
// uninterrupted run's; then truncate the newest checkpoint and resume again: it is
// detected, named, and the one before is used. These runs read their images through the
// disk cache (--cache-dir, a 1 MiB window) and the uninterrupted one decodes them, so the
// equal histories also show cached training sees the same pixels; the resumed run finds
// every image cached.
func TestKillAndResume(t *testing.T) {
	f := processFixture(t)
	want := uninterrupted(t, f)
	out := filepath.Join(t.TempDir(), "run")
	cacheDir := t.TempDir()
	f.extra = []string{"--cache-dir", cacheDir, "--cache-memory", "1MiB"}

	ps, _ := stopDuringEpoch2(t, f, out, syscall.SIGKILL)
	if ws, ok := ps.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("xray train was not killed by SIGKILL: %v", ps)
	}
	if rows := readHistory(t, filepath.Join(out, "history.csv")); len(rows) >= f.epochs {
		t.Fatalf("killed after %d epochs: too late to test resuming", len(rows))
	}

	stdout, stderr, code := runXray(t, f.args(out, "--resume")...)
	if code != 0 {
		t.Fatalf("--resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "resuming from epoch-") {
		t.Errorf("--resume did not say where it resumed from:\n%s", stdout)
	}
	if !strings.Contains(stdout, "24 of 24 images cached when opened") || !strings.Contains(stdout, "8 of 8 images cached when opened") {
		t.Errorf("--resume did not find the train (24) and val (8) images in the disk cache:\n%s", stdout)
	}
	var rj struct {
		Config Config `json:"config"`
	}
	if b, err := os.ReadFile(filepath.Join(out, "run.json")); err != nil || json.Unmarshal(b, &rj) != nil || rj.Config.CacheDir != cacheDir || rj.Config.CacheMemory != 1<<20 {
		t.Errorf("run.json records cache_dir %q, cache_memory %d (%v); want %s and 1 MiB", rj.Config.CacheDir, rj.Config.CacheMemory, err, cacheDir)
	}
	checkRunDir(t, out, want)

	// A checkpoint cut short (a disk that filled up, a copy interrupted) is detected.
	newest := filepath.Join(out, "checkpoints", checkpoint.Name(f.epochs))
	truncate(t, newest)
	stdout, stderr, code = runXray(t, f.args(out, "--resume")...)
	if code != 0 {
		t.Fatalf("--resume over a truncated checkpoint: exit %d\n%s\n%s", code, stdout, stderr)
	}
	all := stdout + stderr
	if !strings.Contains(all, "warning") || !strings.Contains(all, checkpoint.Name(f.epochs)) {
		t.Errorf("no warning naming %s:\n%s", checkpoint.Name(f.epochs), all)
	}
	if !strings.Contains(stdout, "resuming from "+checkpoint.Name(f.epochs-1)) {
		t.Errorf("did not resume from the checkpoint before the truncated one:\n%s", stdout)
	}
	checkRunDir(t, out, want)
}

// TestInterruptSavesAndExits130: Ctrl-C (SIGINT) or SIGTERM (what a scheduler or
// `docker stop` sends) during epoch 2 exits with 130 and the --resume hint, leaving a
// readable checkpoint and a history up to it; resuming ends with the uninterrupted
// history.
func TestInterruptSavesAndExits130(t *testing.T) {
	f := processFixture(t)
	want := uninterrupted(t, f)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			ps, stderr := stopDuringEpoch2(t, f, out, sig)
			if ps.ExitCode() != 130 {
				t.Fatalf("exit code %d after %v, want 130\n%s", ps.ExitCode(), sig, stderr)
			}
			if !strings.Contains(stderr, "--resume") || !strings.Contains(stderr, out) {
				t.Errorf("no resume hint naming the run directory:\n%s", stderr)
			}
			if strings.Contains(stderr, "xray: error:") {
				t.Errorf("an error line after the resume hint:\n%s", stderr)
			}
			path, st, _, ok, err := checkpoint.Latest(filepath.Join(out, "checkpoints"), func(w string) { t.Errorf("after %v: %s", sig, w) })
			if err != nil || !ok {
				t.Fatalf("no readable checkpoint after %v: %v", sig, err)
			}
			rows := readHistory(t, filepath.Join(out, "history.csv"))
			if len(rows) != st.Epoch || st.Epoch >= f.epochs {
				t.Errorf("history has %d epochs, newest checkpoint %s is epoch %d (of %d)", len(rows), filepath.Base(path), st.Epoch, f.epochs)
			}
			var rj struct {
				Finished bool `json:"finished"`
			}
			if b, err := os.ReadFile(filepath.Join(out, "run.json")); err != nil || json.Unmarshal(b, &rj) != nil || rj.Finished {
				t.Errorf("run.json after %v: finished=%v err=%v, want an unfinished run", sig, rj.Finished, err)
			}

			stdout, stderr2, code := runXray(t, f.args(out, "--resume")...)
			if code != 0 {
				t.Fatalf("--resume: exit %d\n%s\n%s", code, stdout, stderr2)
			}
			if !strings.Contains(stdout, "resuming from "+filepath.Base(path)) {
				t.Errorf("--resume did not continue from %s:\n%s", filepath.Base(path), stdout)
			}
			checkRunDir(t, out, want)
		})
	}
}

// TestThreadsFlagReachesSession: `xray train --threads 3` creates its TensorFlow session
// with 3 intra-op and 3 inter-op threads. run.json records the thread counts read back
// from the ConfigProto the session was created with (TensorFlow's threads carry no names
// to count in /proc), so a flag dropped anywhere on the way (CLI, Config, session
// options) records this machine's default instead: GOMAXPROCS, which the test makes 2
// for the child, never 3.
func TestThreadsFlagReachesSession(t *testing.T) {
	f := processFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(xrayBinary(t), f.args(out, "--threads", "3", "--max-steps", "1")...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xray train --threads 3: %v\n%s", err, b)
	}
	var rj struct {
		Threads struct {
			Cores   int `json:"cores"`
			IntraOp int `json:"intra_op_threads"`
			InterOp int `json:"inter_op_threads"`
			Loader  int `json:"loader_workers"`
		} `json:"threads"`
	}
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rj); err != nil {
		t.Fatal(err)
	}
	if th := rj.Threads; th.Cores != 2 || th.IntraOp != 3 || th.InterOp != 3 || th.Loader != 3 {
		t.Errorf("run.json threads %+v: want the session's 3 intra-op and 3 inter-op threads and 3 loader workers on 2 cores", th)
	}
}
