package trainer

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
)

// These tests run a chief and a worker as two real processes (`xray train` and `xray
// worker`) on 127.0.0.1 ephemeral ports.

// clusterArgs are the fixture's training flags for 2 epochs on the CPU.
func clusterArgs(f procFixture, out string, extra ...string) []string {
	return append([]string{"train", "--manifest", f.manifest, "--weights", "none", "--arch", tfgraph.MobileNet,
		"--input-size", "128", "--batch-size", "4", "--epochs", "2", "--device", "cpu", "--quiet", "--out", out}, extra...)
}

// loopbackCluster is a cluster JSON of a chief and one worker on free local ports.
func loopbackCluster(t *testing.T) (json, worker string) {
	t.Helper()
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		defer l.Close()
	}
	return fmt.Sprintf(`{"chief": [%q], "worker": [%q]}`, addrs[0], addrs[1]), addrs[1]
}

// startWorker starts `xray worker` (killed at the end of the test).
func startWorker(t *testing.T, cluster string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(xrayBinary(t), "worker", "--cluster", cluster, "--task", "worker:0", "--device", "cpu")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestClusterLoopback: a chief and a worker train 2 epochs as 2 replicas; the worker is
// killed (SIGKILL) during epoch 2, and the chief must exit non-zero naming it within 60
// s; with the worker restarted, --resume finishes the run, and its history equals the
// single-process run on 2 logical CPU devices (the same replicated graph) within 1e-5.
func TestClusterLoopback(t *testing.T) {
	f := processFixture(t)
	ref := filepath.Join(t.TempDir(), "two-devices")
	if stdout, stderr, code := runXray(t, clusterArgs(f, ref, "--devices", "2")...); code != 0 {
		t.Fatalf("--devices 2: exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := readHistory(t, filepath.Join(ref, "history.csv"))

	cluster, workerAddr := loopbackCluster(t)
	out := filepath.Join(t.TempDir(), "cluster")
	worker := startWorker(t, cluster)
	chief := exec.Command(xrayBinary(t), clusterArgs(f, out, "--cluster", cluster, "--task", "chief")...)
	var stderr bytes.Buffer
	chief.Stderr = &stderr
	if err := chief.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- chief.Wait() }()
	waitForFile(t, filepath.Join(out, "checkpoints", checkpoint.Name(1)), done, &stderr)
	time.Sleep(400 * time.Millisecond) // into epoch 2
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		chief.Process.Kill()
		t.Fatalf("the chief still runs 60 s after its worker was killed:\n%s", stderr.String())
	}
	t.Logf("MEASURED the chief exited %.1f s after the kill: %s", time.Since(killed).Seconds(), lastLine(stderr.String()))
	if chief.ProcessState.ExitCode() == 0 || !strings.Contains(stderr.String(), "worker 0 at "+workerAddr) || !strings.Contains(stderr.String(), "--resume") {
		t.Fatalf("exit %d; want non-zero naming worker 0 at %s and --resume:\n%s", chief.ProcessState.ExitCode(), workerAddr, stderr.String())
	}

	startWorker(t, cluster)
	stdout, errs, code := runXray(t, clusterArgs(f, out, "--cluster", cluster, "--task", "chief", "--resume")...)
	if code != 0 || !strings.Contains(stdout, "resuming from "+checkpoint.Name(1)) {
		t.Fatalf("--resume: exit %d\n%s\n%s", code, stdout, errs)
	}
	got := readHistory(t, filepath.Join(out, "history.csv"))
	if len(got) != len(want) {
		t.Fatalf("cluster history has %d epochs, the 2-device run %d", len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		for c := 1; c <= 5; c++ { // loss, accuracy, val_loss, val_accuracy, val_auc
			d := math.Abs(got[i][c]-want[i][c]) / math.Max(1, math.Abs(want[i][c]))
			if !(d <= 1e-5) {
				t.Errorf("epoch %d column %d: cluster %v, 2 devices %v", i+1, c, got[i][c], want[i][c])
			}
			worst = math.Max(worst, d)
		}
	}
	t.Logf("MEASURED history: cluster vs 2 devices, worst difference %.3g", worst)
}

// TestClusterErrorsBeforeTraining: a bad TF_CONFIG or a worker that never answers ends
// the chief with a one-line error naming the problem, before any epoch.
func TestClusterErrorsBeforeTraining(t *testing.T) {
	f := processFixture(t)
	cluster, workerAddr := loopbackCluster(t) // nothing listens on either port
	for _, c := range []struct{ name, tfConfig, want string }{
		{"malformed JSON", `{"cluster": {"chief": [`, "TF_CONFIG: cluster: malformed JSON"},
		{"unknown task type", `{"cluster": ` + cluster + `, "task": {"type": "ps", "index": 0}}`, `unknown task type "ps"`},
		{"index out of range", `{"cluster": ` + cluster + `, "task": {"type": "worker", "index": 3}}`, "index 3 out of range"},
		{"unreachable worker", `{"cluster": ` + cluster + `, "task": {"type": "chief", "index": 0}}`, "worker 0 at " + workerAddr + " does not answer after 2s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cmd := exec.Command(xrayBinary(t), clusterArgs(f, out, "--cluster-wait", "2s")...)
			cmd.Env = append(os.Environ(), "TF_CONFIG="+c.tfConfig)
			b, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(b), c.want) {
				t.Fatalf("exit %v; want an error containing %q:\n%s", err, c.want, b)
			}
			if _, err := os.Stat(filepath.Join(out, "history.csv")); err == nil {
				t.Error("an epoch ran")
			}
		})
	}
}

// waitForFile waits for path while the process behind done runs.
func waitForFile(t *testing.T, path string, done chan error, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.After(5 * time.Minute)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the chief ended (%v) before %s:\n%s", err, filepath.Base(path), stderr.String())
		case <-deadline:
			t.Fatalf("no %s after 5 minutes", filepath.Base(path))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
