package loader

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/preprocess/dicom"
)

// TestIngestAndLoadDICOM: DICOM files are found by content in a class folder (a bare
// dataset without the preamble too), a .dcm that is not DICOM is skipped with the reason, and the loader decodes DICOM with its
// configured window (the pixels preprocess gives for the same file and window).
func TestIngestAndLoadDICOM(t *testing.T) {
	root := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "dicom", "*.dcm"))
	if len(files) < 8 {
		t.Fatalf("testdata/dicom has %d .dcm files, want 8", len(files))
	}
	for i, f := range files {
		b, _ := os.ReadFile(f)
		class := []string{"NORMAL", "PNEUMONIA"}[i%2]
		put(t, filepath.Join(root, class, "scan-"+filepath.Base(f)), b)
		if i == 0 { // a bare dataset (no preamble) is read; a .dcm of another kind is not
			put(t, filepath.Join(root, class, "bare.dcm"), b[132:])
			put(t, filepath.Join(root, class, "notes.dcm"), []byte("a text file named .dcm"))
		}
	}
	for _, verify := range []bool{false, true} {
		in, err := dataset.Ingest(root, dataset.IngestOptions{Verify: verify})
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Entries) != len(files)+1 || len(in.Skipped) != 1 || !strings.Contains(in.Skipped[0].Reason, "not DICOM") {
			t.Fatalf("verify=%v: %d entries (want %d), skipped %+v (want notes.dcm: not DICOM)", verify, len(in.Entries), len(files)+1, in.Skipped)
		}
	}
	in, _ := dataset.Ingest(root, dataset.IngestOptions{})
	for _, w := range []dicom.Window{{}, {Mode: dicom.WindowMinMax}, {Mode: dicom.WindowFixed, Center: 1000, Width: 2000}} {
		cfg := smallConfig()
		cfg.Window, cfg.Shuffle = w, false
		l, err := New(root, in.Entries, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range collect(t, l, 0) {
			n := cfg.Len()
			for k, p := range b.Paths {
				want, err := cfg.File(filepath.Join(root, p))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(b.Images[k*n:(k+1)*n], want) {
					t.Errorf("window %v: %s: the loader's pixels are not preprocess's", w, p)
				}
			}
		}
	}
}
