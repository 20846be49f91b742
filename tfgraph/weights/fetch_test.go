package weights

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
)

// server serves body at every path ending in a known file name, counting requests; with
// dropHalf it sends half the body under the full Content-Length and drops the connection.
func server(t *testing.T, body []byte, dropHalf bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if _, ok := sourceByFileName(filepath.Base(r.URL.Path)); !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if !dropHalf {
			w.Write(body)
			return
		}
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// listDir names a folder's entries (hidden temporary files included).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetch(t *testing.T) {
	// A Keras-written MobileNet no-top file (random weights) stands in for the real one:
	// Keras pins no hash for MobileNet, so Fetch checks its structure instead.
	good, err := os.ReadFile(filepath.Join(mobileNetRef(t), "k2_base_imagenet.h5"))
	if err != nil {
		t.Fatal(err)
	}
	mobile, err := ImageNet(tfgraph.MobileNet)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("downloads once, then reuses the cache", func(t *testing.T) {
		srv, hits := server(t, good, false)
		cache := t.TempDir()
		var last progress.Event
		cfg := FetchConfig{Arch: tfgraph.MobileNet, CacheDir: cache, BaseURL: srv.URL, Progress: func(e progress.Event) { last = e }}
		p, err := Fetch(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if p != filepath.Join(cache, mobile.FileName) {
			t.Errorf("path %s", p)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, good) {
			t.Fatalf("cached file differs from the served one (%v)", err)
		}
		if want := (progress.Event{Task: "download " + mobile.FileName, Done: int64(len(good)), Total: int64(len(good)), Unit: "B"}); last != want {
			t.Errorf("last progress %+v, want %+v", last, want)
		}
		if _, err := Fetch(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if hits.Load() != 1 {
			t.Errorf("%d requests, want 1 (the second fetch must use the cache)", hits.Load())
		}
		if names := listDir(t, cache); len(names) != 1 {
			t.Errorf("cache holds %v", names)
		}
	})

	// Each failure leaves the final path absent, no temporary file, and the rest of the
	// cache untouched.
	failures := []struct {
		name     string
		arch     string
		body     []byte
		drop     bool
		offline  bool
		wantErrs []string
	}{
		{"hash mismatch", tfgraph.Xception, good, false, false, []string{"md5", "!= b0042744bf5b25fce3cb969f33bebb97 pinned by Keras", "nothing was written"}},
		{"connection dropped midway", tfgraph.MobileNet, good, true, false, []string{"download", "by hand"}},
		{"not a weight file", tfgraph.MobileNet, []byte("<html>captive portal</html>"), false, false, []string{"not an HDF5 file", "nothing was written"}},
		{"offline", tfgraph.InceptionV3, nil, false, true, []string{"cannot reach", "offline or blocked", "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 by hand and put it at"}},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			base := "http://127.0.0.1:1" // nothing listens on port 1
			if !c.offline {
				srv, _ := server(t, c.body, c.drop)
				base = srv.URL
			}
			cache := t.TempDir()
			other := filepath.Join(cache, "other.h5")
			if err := os.WriteFile(other, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			src, _ := ImageNet(c.arch)
			p, err := Fetch(context.Background(), FetchConfig{Arch: c.arch, CacheDir: cache, BaseURL: base})
			if p != "" {
				t.Errorf("returned path %q on failure", p)
			}
			s := oneLine(t, err)
			t.Log(s)
			for _, w := range append(c.wantErrs, src.FileName) {
				if !strings.Contains(s, w) {
					t.Errorf("error %q\nwant it to contain %q", s, w)
				}
			}
			if names := listDir(t, cache); len(names) != 1 || names[0] != "other.h5" {
				t.Errorf("cache after a failed fetch holds %v, want just other.h5", names)
			}
			if b, _ := os.ReadFile(other); string(b) != "keep me" {
				t.Error("another cached file changed")
			}
		})
	}

	t.Run("a bad cached file is fetched again", func(t *testing.T) {
		srv, hits := server(t, good, false)
		cache := t.TempDir()
		target := filepath.Join(cache, mobile.FileName)
		if err := os.WriteFile(target, good[:1000], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Fetch(context.Background(), FetchConfig{Arch: tfgraph.MobileNet, CacheDir: cache, BaseURL: srv.URL}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(target); !bytes.Equal(b, good) || hits.Load() != 1 {
			t.Errorf("truncated cache entry not replaced (%d requests)", hits.Load())
		}
	})
}

// TestHashFile checks the digests against the RFC 1321 and FIPS 180-2 test vectors for
// "abc", choosing md5 or sha256 by the pinned hash's length as Keras does.
func TestHashFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "abc")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"900150983cd24fb0d6963f7d28e17f72",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if err := CheckHash(p, want); err != nil {
			t.Error(err)
		}
	}
	if err := CheckHash(p, "0a58e3b7378bc2990ea3b43d5981f1f6"); err == nil {
		t.Error("a wrong hash passed")
	}
}

// TestCacheDirLikeKeras compares CacheDir with the folder Keras's get_file(cache_subdir=
// "models") uses, with and without KERAS_HOME (Keras's config module, run for each).
func TestCacheDirLikeKeras(t *testing.T) {
	script := filepath.Join(t.TempDir(), "kerashome.py")
	code := `import os, runpy, sys
from keras.src.backend import config
for kh in sys.argv[1:]:
    if kh == "-":
        os.environ.pop("KERAS_HOME", None)
    else:
        os.environ["KERAS_HOME"] = kh
    print(os.path.join(os.path.expanduser(runpy.run_path(config.__file__)["keras_home"]()), "models"))
`
	if err := os.WriteFile(script, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	kh := t.TempDir()
	want := strings.Fields(string(pyref.Run(t, script, kh, "-")))
	if len(want) != 2 {
		t.Fatalf("python printed %q", want)
	}
	t.Setenv("KERAS_HOME", kh)
	if got := CacheDir(); got != want[0] {
		t.Errorf("with KERAS_HOME: CacheDir %s, Keras %s", got, want[0])
	}
	os.Unsetenv("KERAS_HOME")
	if got := CacheDir(); got != want[1] {
		t.Errorf("without KERAS_HOME: CacheDir %s, Keras %s", got, want[1])
	}
}

func TestVerifyAndResolve(t *testing.T) {
	dir := mobileNetRef(t)
	t.Run("no-top file", func(t *testing.T) {
		v, err := Verify(VerifyConfig{Path: filepath.Join(dir, "k2_base.h5"), Arch: tfgraph.MobileNet})
		if err != nil {
			t.Fatal(err)
		}
		if v.Mode != ModeBase || v.HashOK {
			t.Errorf("mode %s hashOK %v", v.Mode, v.HashOK)
		}
	})
	t.Run("full model", func(t *testing.T) {
		v, err := Verify(VerifyConfig{Path: filepath.Join(dir, "k3_nested.keras"), Arch: tfgraph.MobileNet, InputSize: 128})
		if err != nil {
			t.Fatal(err)
		}
		if v.Mode != ModeFull {
			t.Errorf("mode %s", v.Mode)
		}
	})
	t.Run("pinned hash mismatch", func(t *testing.T) {
		src, _ := ImageNet(tfgraph.Xception)
		p := filepath.Join(t.TempDir(), src.FileName)
		b, _ := os.ReadFile(filepath.Join(dir, "k2_base.h5"))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Verify(VerifyConfig{Path: p})
		if s := oneLine(t, err); !strings.Contains(s, "pinned by Keras") || !strings.Contains(s, "fetch the xception weights again") {
			t.Errorf("error %q", s)
		}
	})

	t.Run("resolve", func(t *testing.T) {
		if p, err := Resolve("none", tfgraph.MobileNet, "", nil); p != "" || err != nil {
			t.Errorf("none: %q %v", p, err)
		}
		p, err := Resolve(filepath.Join(dir, "k2_full.h5"), tfgraph.MobileNet, "", nil)
		if err != nil || p != filepath.Join(dir, "k2_full.h5") {
			t.Errorf("path: %q %v", p, err)
		}
		if _, err := Resolve(filepath.Join(dir, "missing.h5"), tfgraph.MobileNet, "", nil); err == nil {
			t.Error("a missing path resolved")
		}
		good, _ := os.ReadFile(filepath.Join(dir, "k2_base.h5"))
		srv, _ := server(t, good, false)
		t.Setenv(BaseURLEnv, srv.URL)
		cache := t.TempDir()
		p, err = Resolve("imagenet", tfgraph.MobileNet, cache, nil)
		if err != nil || p != filepath.Join(cache, "mobilenet_1_0_224_tf_no_top.h5") {
			t.Errorf("imagenet: %q %v", p, err)
		}
	})
}
