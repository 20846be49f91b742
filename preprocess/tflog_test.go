package preprocess

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// mlirLine is what TensorFlow 2.18's C++ library prints, once per process, at the first
// session run, through an Abseil copy that no setting reaches (internal/tflog).
const mlirLine = "MLIR V1 optimization pass is not enabled"

// TestLibraryQuiet: a program that uses our libraries without cmd/xray (this test binary,
// run again as a child that preprocesses an X-ray through its TensorFlow session) prints
// neither TensorFlow's MLIR line nor Abseil's banner on standard error, and what the
// program itself writes there stays; with TF_CPP_MIN_LOG_LEVEL=0 (TensorFlow's lines
// asked for) the same child prints the line, so the check can fail.
func TestLibraryQuiet(t *testing.T) {
	if os.Getenv("XRAY_TFLOG_CHILD") == "1" {
		b, err := os.ReadFile("../testdata/chest_xray/test/NORMAL/IM-0226-0001.jpeg")
		if err != nil {
			t.Fatal(err)
		}
		os.Stderr.WriteString("child: before\n")
		if _, err := (Preprocessor{Size: 32, Scaling: Unit}).Bytes(b); err != nil {
			t.Fatal(err)
		}
		os.Stderr.WriteString("child: after\n")
		return
	}
	child := func(level string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryQuiet$", "-test.count=1")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TF_CPP_MIN_LOG_LEVEL=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "XRAY_TFLOG_CHILD=1")
		if level != "" {
			cmd.Env = append(cmd.Env, "TF_CPP_MIN_LOG_LEVEL="+level)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("child (TF_CPP_MIN_LOG_LEVEL=%q): %v\nstdout: %s\nstderr: %s", level, err, stdout.String(), stderr.String())
		}
		return stderr.String()
	}
	quiet := child("") // the variable unset, as in a program run without bin/xray's launcher
	if strings.Contains(quiet, mlirLine) || strings.Contains(quiet, "absl::InitializeLog") {
		t.Errorf("a library-only program prints TensorFlow's once-per-process lines:\n%s", quiet)
	}
	if b, a := strings.Index(quiet, "child: before\n"), strings.Index(quiet, "child: after\n"); b < 0 || a < b {
		t.Errorf("the program's own standard error lost or reordered:\n%s", quiet)
	}
	if loud := child("0"); !strings.Contains(loud, mlirLine) {
		t.Errorf("with TF_CPP_MIN_LOG_LEVEL=0 the child does not print %q, so the quiet run proves nothing:\n%s", mlirLine, loud)
	}
}
