package savedmodels_test

import (
	"context"
	"errors"
	"github.com/xraylab/xray/savedmodels"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"google.golang.org/protobuf/proto"
)

// copyDir copies a SavedModel so a case can damage its copy.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrors: a missing, incomplete or damaged SavedModel gives one line naming the
// directory and what to do, never a panic.
func TestLoadErrors(t *testing.T) {
	good, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{RunID: "r"})
	cases := []struct {
		name string
		make func(t *testing.T, dir string) string // returns the dir to load
		want string                                // in the error
		kind error                                 // errors.Is matches it
	}{
		{"missing", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") }, "give the directory savedmodels/export wrote", fs.ErrNotExist},
		{"a file", func(t *testing.T, dir string) string {
			f := filepath.Join(dir, "model.pb")
			os.WriteFile(f, []byte("x"), 0o644)
			return f
		}, "not a directory", savedmodels.ErrNotFound},
		{"empty", func(t *testing.T, dir string) string { return dir }, "no saved_model.pb", fs.ErrNotExist},
		{"serving base", func(t *testing.T, dir string) string {
			copyDir(t, good, filepath.Join(dir, "1"))
			return dir
		}, "give a version directory, e.g. " + filepath.Join("DIR", "1"), savedmodels.ErrNotFound},
		{"garbage saved_model.pb", func(t *testing.T, dir string) string {
			copyDir(t, good, dir)
			os.WriteFile(filepath.Join(dir, "saved_model.pb"), []byte("\xff\xff\xff not a proto"), 0o644)
			return dir
		}, "saved_model.pb is damaged", savedmodels.ErrDamaged},
		{"no variables", func(t *testing.T, dir string) string {
			copyDir(t, good, dir)
			os.RemoveAll(filepath.Join(dir, "variables"))
			return dir
		}, "no variables/variables.index", savedmodels.ErrDamaged},
		{"truncated variables", func(t *testing.T, dir string) string {
			copyDir(t, good, dir)
			p := filepath.Join(dir, "variables", "variables.data-00000-of-00001")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
			return dir
		}, "export the model again", savedmodels.ErrDamaged},
		{"bad metadata", func(t *testing.T, dir string) string {
			copyDir(t, good, dir)
			os.WriteFile(filepath.Join(dir, savedmodels.MetadataFile), []byte("{"), 0o644)
			return dir
		}, savedmodels.MetadataFile, savedmodels.ErrDamaged},
		{"not xray", func(t *testing.T, dir string) string {
			script := pyref.Script("tiny_savedmodel.py")
			cached := filepath.Join(pyref.CacheDir(t, "tiny_savedmodel", pyref.FileHash(t, script)), "model")
			if _, err := os.Stat(filepath.Join(cached, "saved_model.pb")); err != nil {
				os.RemoveAll(cached)
				pyref.Run(t, script, cached)
			}
			copyDir(t, cached, dir)
			return dir
		}, "not an xray SavedModel", savedmodels.ErrNotXray},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			dir := c.make(t, tmp)
			m, err := savedmodels.Load(dir, savedmodels.Options{})
			if err == nil {
				m.Close()
				t.Fatalf("Load(%s) succeeded", dir)
			}
			msg := strings.ReplaceAll(err.Error(), tmp, "DIR")
			if !strings.Contains(err.Error(), dir) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and saying %q", msg, "the directory", c.want)
			}
			if !errors.Is(err, c.kind) || c.kind == fs.ErrNotExist && !errors.Is(err, savedmodels.ErrNotFound) {
				t.Errorf("error %q does not match %v", msg, c.kind)
			}
			var le *savedmodels.LoadError
			if !errors.As(err, &le) || le.Dir != dir {
				t.Errorf("error %q is not a *LoadError for %s", msg, dir)
			}
			for _, k := range []error{savedmodels.ErrNotFound, savedmodels.ErrNotXray, savedmodels.ErrDamaged} {
				if k != c.kind && errors.Is(err, k) && !(c.kind == fs.ErrNotExist && k == savedmodels.ErrNotFound) {
					t.Errorf("error %q also matches %v", msg, k)
				}
			}
		})
	}
}

// TestLoadMetadataFallback: without assets.extra/xray.json (a copy tool that skipped it)
// the metadata comes from saved_model.pb.
func TestLoadMetadataFallback(t *testing.T) {
	good, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{RunID: "r-fallback"})
	m, err := savedmodels.Load(good, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := m.Metadata()
	m.Close()
	if err := os.RemoveAll(filepath.Join(good, filepath.Dir(savedmodels.MetadataFile))); err != nil {
		t.Fatal(err)
	}
	m, err = savedmodels.Load(good, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Metadata(); !reflect.DeepEqual(got, want) || got.RunID != "r-fallback" {
		t.Errorf("metadata from saved_model.pb %+v, from the file %+v", got, want)
	}
	if _, err := m.PredictBytes(context.Background(), savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 1))...); err != nil {
		t.Fatal(err)
	}
}

// TestLoadSessionConfig: a ConfigProto reaches TensorFlow (a malformed one is refused).
func TestLoadSessionConfig(t *testing.T) {
	dir, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{})
	cfg, err := proto.Marshal(&pb.ConfigProto{IntraOpParallelismThreads: 1, InterOpParallelismThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := savedmodels.Load(dir, savedmodels.Options{SessionConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.PredictBytes(context.Background(), savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 1))...); err != nil {
		t.Error(err)
	}
	m.Close()
	if m, err := savedmodels.Load(dir, savedmodels.Options{SessionConfig: []byte("\xff\xff not a proto")}); err == nil {
		m.Close()
		t.Error("a malformed session config was accepted")
	} else if errors.Is(err, savedmodels.ErrDamaged) || errors.Is(err, savedmodels.ErrNotFound) || errors.Is(err, savedmodels.ErrNotXray) {
		t.Errorf("a malformed session config blames the model: %v", err)
	}
}

// TestLoadJIT: Options.JIT compiles the served graph with XLA, which TensorFlow says in its
// info log (read from a child process with the log on; without JIT it must not say it), and
// the probabilities stay those of the plain session.
func TestLoadJIT(t *testing.T) {
	if mode := os.Getenv("XRAY_LOADJIT_CHILD"); mode != "" {
		dir, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{})
		jitProbs(t, dir, savedmodels.Options{JIT: mode == "on"})
		return
	}
	const compiled = "Compiled cluster using XLA"
	for _, on := range []bool{true, false} {
		mode := map[bool]string{true: "on", false: "off"}[on]
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadJIT$", "-test.count=1")
		cmd.Env = append(os.Environ(), "XRAY_LOADJIT_CHILD="+mode, "TF_CPP_MIN_LOG_LEVEL=0", "TF_CPP_MAX_VLOG_LEVEL=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child loading with JIT %s: %v\n%s", mode, err, out)
		}
		if got := strings.Contains(string(out), compiled); got != on {
			t.Errorf("Load with JIT %s: TensorFlow logged %q: %v, want %v", mode, compiled, got, on)
		}
	}
	dir, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{})
	plain, jit := jitProbs(t, dir, savedmodels.Options{}), jitProbs(t, dir, savedmodels.Options{JIT: true})
	d := approx.WithinRows(t, "JIT vs plain probabilities", jit, plain, approx.Abs, 1e-5)
	t.Logf("JIT vs plain: %v", d)
	if m, err := savedmodels.Load(dir, savedmodels.Options{JIT: true, SessionConfig: []byte("\xff\xff not a proto")}); err == nil {
		m.Close()
		t.Error("a malformed session config was accepted with JIT")
	}
}

// jitProbs loads dir with opts and predicts six X-rays.
func jitProbs(t *testing.T, dir string, opts savedmodels.Options) [][]float32 {
	t.Helper()
	m, err := savedmodels.Load(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	preds, err := m.PredictBytes(context.Background(), savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 6))...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(preds))
	for i, p := range preds {
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		out[i] = p.Probabilities[:]
	}
	return out
}

// TestPredictFile: files by path give what their bytes give; a missing file gets its own
// error naming it (fs.ErrNotExist) and the others are still predicted.
func TestPredictFile(t *testing.T) {
	dir, _, _ := exportTiny(t, 32, 1, savedmodels.Metadata{})
	m, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	paths := savedmodelstest.Xrays(t, 3)
	missing := filepath.Join(t.TempDir(), "gone.jpeg")
	got, err := m.PredictFile(context.Background(), append(paths, missing)...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.PredictBytes(context.Background(), savedmodelstest.ReadFiles(t, paths)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(paths)+1 {
		t.Fatalf("%d predictions for %d files", len(got), len(paths)+1)
	}
	for i := range paths {
		if !reflect.DeepEqual(got[i], want[i]) || got[i].Err != nil {
			t.Errorf("%s: PredictFile %+v, PredictBytes %+v", paths[i], got[i], want[i])
		}
	}
	if e := got[len(paths)].Err; !errors.Is(e, fs.ErrNotExist) || !strings.Contains(e.Error(), missing) {
		t.Errorf("missing file: error %v, want fs.ErrNotExist naming %s", e, missing)
	}
}
