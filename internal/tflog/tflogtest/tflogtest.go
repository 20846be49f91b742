// Package tflogtest checks, for a library's tests, that a program using the library
// without cmd/xray prints none of TensorFlow's once-per-process lines (package tflog):
// the test binary runs the test again as a child, once as such a program would run and
// once with TF_CPP_MIN_LOG_LEVEL=0, where the line must come back, so the check can fail.
//
//	func TestLibraryQuiet(t *testing.T) {
//		if tflogtest.InChild() {
//			tflogtest.Child(func() { ...use the library... })
//			return
//		}
//		stdout := tflogtest.Check(t, "TestLibraryQuiet")
//	}
package tflogtest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// MLIRLine is what TensorFlow 2.18's C++ library prints, once per process, at the first
// session run, through an Abseil copy that no setting reaches.
const MLIRLine = "MLIR V1 optimization pass is not enabled"

const childEnv = "XRAY_TFLOG_CHILD"

// InChild reports whether this process is a child that Check started.
func InChild() bool { return os.Getenv(childEnv) == "1" }

// Child runs the library's work between two lines of the program's own on standard
// error, which Check looks for in order.
func Child(work func()) {
	os.Stderr.WriteString("child: before\n")
	work()
	os.Stderr.WriteString("child: after\n")
}

// Check runs test name of this binary as a child with TF_CPP_MIN_LOG_LEVEL unset (as a
// program run without bin/xray's launcher) and fails t if its standard error holds
// TensorFlow's lines or lost the program's own; then with TF_CPP_MIN_LOG_LEVEL=0, where
// the MLIR line must appear. It returns the quiet child's standard output.
func Check(t testing.TB, name string) string {
	t.Helper()
	stdout, quiet := run(t, name, "")
	if strings.Contains(quiet, MLIRLine) || strings.Contains(quiet, "absl::InitializeLog") {
		t.Errorf("a library-only program prints TensorFlow's once-per-process lines:\n%s", quiet)
	}
	if b, a := strings.Index(quiet, "child: before\n"), strings.Index(quiet, "child: after\n"); b < 0 || a < b {
		t.Errorf("the program's own standard error lost or reordered:\n%s", quiet)
	}
	if _, loud := run(t, name, "0"); !strings.Contains(loud, MLIRLine) {
		t.Errorf("with TF_CPP_MIN_LOG_LEVEL=0 the child does not print %q, so the quiet run proves nothing:\n%s", MLIRLine, loud)
	}
	return stdout
}

func run(t testing.TB, name, level string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_CPP_MIN_LOG_LEVEL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"=1")
	if level != "" {
		cmd.Env = append(cmd.Env, "TF_CPP_MIN_LOG_LEVEL="+level)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child (TF_CPP_MIN_LOG_LEVEL=%q): %v\nstdout: %s\nstderr: %s", level, err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}
