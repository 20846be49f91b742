package serve

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

const size = 32 // tiny models: the server does not care about the architecture

// version is an exported tiny model and its live graph's probabilities for the X-rays.
type exported struct {
	dir  string
	want [][]float32 // live graph on the Go-preprocessed files, the reference
}

// fixture is a model base with versions exported from tiny models of different seeds.
type fixture struct {
	base     string
	paths    []string
	files    [][]byte
	pixels   [][]float32
	versions map[int]exported
}

func newFixture(t *testing.T, versions ...int) *fixture {
	t.Helper()
	paths, err := filepath.Glob("../testdata/chest_xray/test/*/*.jpeg")
	if err != nil || len(paths) < 4 {
		t.Fatalf("X-rays in testdata/chest_xray/test: %d, %v", len(paths), err)
	}
	f := &fixture{base: filepath.Join(t.TempDir(), "models", "xray"), versions: map[int]exported{}}
	f.paths = []string{paths[0], paths[len(paths)/3], paths[2*len(paths)/3], paths[len(paths)-1]}
	pre := preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}
	for _, p := range f.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		px, err := pre.Bytes(b)
		if err != nil {
			t.Fatal(err)
		}
		f.files, f.pixels = append(f.files, b), append(f.pixels, px)
	}
	for _, n := range versions {
		f.export(t, n, filepath.Join(f.base, strconv.Itoa(n)))
	}
	return f
}

// export writes version n (weights seeded by n) to dir and records its reference.
func (f *fixture) export(t *testing.T, n int, dir string) exported {
	t.Helper()
	m, sess := savedmodelstest.TinyModel(t, size, int64(100+n))
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "v" + strconv.Itoa(n)}); err != nil {
		t.Fatal(err)
	}
	var flat []float32
	for _, p := range f.pixels {
		flat = append(flat, p...)
	}
	x, err := tf.NewTensor(flat)
	if err == nil {
		err = x.Reshape([]int64{int64(len(f.pixels)), size, size, 3})
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, []tf.Output{m.Probs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := exported{dir: dir, want: out[0].Value().([][]float32)}
	f.versions[n] = e
	return e
}

// start serves cfg (ModelDir defaulting to the fixture's base) on a loopback port.
func (f *fixture) start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.ModelDir == "" {
		cfg.ModelDir = f.base
	}
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t testing.TB, method, url, contentType string, body []byte, out any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode, b
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// syncBuffer collects log output written from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
