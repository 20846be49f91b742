package pyref

import (
	"os"
	"testing"

	"codeberg.org/sbinet/npyio"
)

// ReadNpy reads a float32 .npy file a reference script wrote; the test fails on a missing,
// unreadable or empty file, so a comparison never runs against nothing.
func ReadNpy(t testing.TB, path string) (shape []int, data []float32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := r.Read(&data); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(data) == 0 {
		t.Fatalf("%s: empty", path)
	}
	return r.Header.Descr.Shape, data
}
