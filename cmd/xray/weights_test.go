package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/weights"
)

func TestWeightsFetchCLI(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(pyref.KerasWeights(t, tfgraph.MobileNet, 128), "k2_base_imagenet.h5"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	t.Setenv(weights.BaseURLEnv, srv.URL)
	cache := t.TempDir()

	code, out, errOut := runCLI(t, "weights", "fetch", "--arch", "mobilenet", "--cache-dir", cache)
	want := filepath.Join(cache, "mobilenet_1_0_224_tf_no_top.h5")
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, _ = runCLI(t, "weights", "verify", "--arch", "mobilenet", want)
	if code != 0 || !strings.Contains(out, "fits:    ok, the mobilenet backbone") || !strings.Contains(out, "Keras pins no hash") {
		t.Errorf("verify: exit %d, %q", code, out)
	}

	// Bad input: a usage error (exit 2), a failed download (exit 1, one line naming the
	// URL and where to put the file by hand), a truncated file.
	if code, _, errOut := runCLI(t, "weights", "fetch"); code != exitUsage {
		t.Errorf("fetch without --arch: exit %d, %q", code, errOut)
	}
	t.Setenv(weights.BaseURLEnv, "http://127.0.0.1:1")
	code, _, errOut = runCLI(t, "weights", "fetch", "--arch", "xception", "--cache-dir", t.TempDir())
	if code != exitFailure || !strings.Contains(errOut, "by hand and put it at") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("offline fetch: exit %d, %q", code, errOut)
	}
	cut := filepath.Join(t.TempDir(), "cut.h5")
	if err := os.WriteFile(cut, body[:len(body)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "weights", "verify", cut)
	if code != exitFailure || !strings.Contains(errOut, "cut.h5: truncated file") {
		t.Errorf("verify truncated: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "weights", "verify"); code != exitUsage {
		t.Errorf("verify without FILE: exit %d", code)
	}
	if code, _, errOut := runCLI(t, "weights", "verify", want, "--arch", "mobilenet"); code != exitUsage || !strings.Contains(errOut, "put flags before FILE") {
		t.Errorf("verify FILE --arch: exit %d, %q", code, errOut)
	}
}

func TestImportKerasCLI(t *testing.T) {
	dir := pyref.KerasWeights(t, tfgraph.MobileNet, 128)
	out := filepath.Join(t.TempDir(), "savedmodel")
	code, stdout, errOut := runCLI(t, "import-keras", "--arch", "mobilenet", "--weights", filepath.Join(dir, "k2_full.h5"), "--out", out, "--input-size", "128")
	if code != 0 || !strings.Contains(stdout, "onto the whole model") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	if _, err := os.Stat(filepath.Join(out, "saved_model.pb")); err != nil {
		t.Error(err)
	}
	// The paper's 256 input does not fit a model built at 128: its first Dense differs.
	out2 := filepath.Join(t.TempDir(), "savedmodel")
	code, _, errOut = runCLI(t, "import-keras", "--arch", "mobilenet", "--weights", filepath.Join(dir, "k2_full.h5"), "--out", out2)
	if code != exitFailure || !strings.Contains(errOut, "layer dense: kernel shape [1024 1024] != [4096 1024]") {
		t.Errorf("exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("a failed import left %s", out2)
	}
	if code, _, _ := runCLI(t, "import-keras", "--arch", "mobilenet"); code != exitUsage {
		t.Errorf("missing flags: exit %d", code)
	}
}
