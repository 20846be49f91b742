// Package pyref runs the Python reference tools (Keras, TensorFlow, sklearn, PIL from the
// project's .venv) for tests that compare our Go results against them. Production code
// never imports it.
package pyref

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Python returns the reference interpreter: $XRAY_PYTHON, else .venv/bin/python at the
// repository root.
func Python() (string, error) {
	if p := os.Getenv("XRAY_PYTHON"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("XRAY_PYTHON=%s: %w", p, err)
		}
		return p, nil
	}
	p := filepath.Join(RepoRoot(), ".venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no reference Python at %s: run scripts/setup.sh", p)
	}
	return p, nil
}

// RepoRoot is the directory holding go.mod of this module.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Script returns the path of a reference script in scripts/ref.
func Script(name string) string { return filepath.Join(RepoRoot(), "scripts", "ref", name) }

// Require returns the reference interpreter or ends the test: a skip with the reason on a
// developer machine without the environment, a failure under CI (CI=true), where the
// reference is always installed and a skip would hide a missing install step.
func Require(t testing.TB) string {
	t.Helper()
	p, err := Python()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("reference Python required in CI: %v", err)
		}
		t.Skipf("reference Python absent: %v", err)
	}
	return p
}

// SharedData returns the directory ../shared/data/<rel> beside the repository (real
// Kermany data: the 224 px train set, the untouched originals; see its README). When it
// is absent the test skips on a developer machine and fails under CI (CI set), where the
// data is provided and a skip would hide its absence, as with Require.
func SharedData(t testing.TB, rel string) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "..", "shared", "data", filepath.FromSlash(rel))
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must provide the shared data at %s (../shared/data beside the repository)", dir)
		}
		t.Skipf("no shared data at %s", dir)
	}
	return dir
}

// Run runs `python script args...` and returns stdout; stderr goes into the error.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py := Require(t)
	cmd := exec.Command(py, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "PYTHONHASHSEED=0", "CUDA_VISIBLE_DEVICES=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("reference %s %s: %v\n%s", filepath.Base(script), strings.Join(args, " "), err, tail(errb.String(), 4000))
	}
	return out.Bytes()
}

// CacheDir is a per-key directory under the test cache (XRAY_TEST_CACHE or
// .cache/reference at the repo root). Reference outputs that take Keras a while are
// written there once; the key should hash every input that affects them.
func CacheDir(t testing.TB, parts ...string) string {
	t.Helper()
	base := os.Getenv("XRAY_TEST_CACHE")
	if base == "" {
		base = filepath.Join(RepoRoot(), ".cache", "reference")
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	dir := filepath.Join(base, hex.EncodeToString(h.Sum(nil))[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// FileHash is the sha256 of a file's contents, for cache keys over scripts and inputs.
func FileHash(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
