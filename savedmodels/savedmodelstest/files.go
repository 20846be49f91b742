package savedmodelstest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
)

// Xrays returns real chest X-rays from the repository's testdata (Kaggle layout), a few
// of each class and split, sorted, at most n.
func Xrays(t testing.TB, n int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "*", "*", "*.jpeg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no X-rays in testdata/chest_xray: %v", err)
	}
	sort.Strings(files)
	// Spread the picks over the sorted list so both classes and all splits appear.
	var out []string
	for i := 0; i < n && i < len(files); i++ {
		out = append(out, files[i*len(files)/min(n, len(files))])
	}
	return out
}

// ReadFiles reads every path.
func ReadFiles(t testing.TB, paths []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// GoPixels preprocesses files with the project's one Go preprocessing.
func GoPixels(t testing.TB, pre preprocess.Preprocessor, files [][]byte) [][]float32 {
	t.Helper()
	out := make([][]float32, len(files))
	for i, b := range files {
		p, err := pre.Bytes(b)
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		out[i] = p
	}
	return out
}

// CachedReference decodes into v the JSON a reference script writes, cached under key:
// on a miss it runs script with args(tmp, out), tmp a fresh directory and out the file
// the script must write.
func CachedReference(t testing.TB, key []string, script string, args func(tmp, out string) []string, v any) {
	t.Helper()
	cached := filepath.Join(pyref.CacheDir(t, key...), "out.json")
	if _, err := os.Stat(cached); err != nil {
		tmp := t.TempDir()
		out := filepath.Join(tmp, "out.json")
		pyref.Run(t, script, args(tmp, out)...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		WriteAtomic(t, cached, b)
	}
	b, err := os.ReadFile(cached)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// DirHash hashes every file under dir (paths and contents).
func DirHash(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HashBytes is the hex SHA-256 of b.
func HashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// WriteAtomic writes path through a temporary file renamed into place.
func WriteAtomic(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// RawFloat32 is images' pixels as raw float32 in native byte order, one image after
// another: the files the Python references read with numpy.fromfile.
func RawFloat32(images [][]float32) []byte {
	var raw []byte
	for _, p := range images {
		for _, v := range p {
			raw = binary.NativeEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	return raw
}
