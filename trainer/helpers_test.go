package trainer

import (
	"bytes"
	"encoding/csv"
	"image"
	_ "image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/disintegration/imaging"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/tfgraph"
)

// sampleRoot is the real Kermany sample shipped with the repository.
func sampleRoot() string { return filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray") }

// sampleImages returns the sample's X-rays of each class (all Kaggle folders), sorted by
// path relative to the sample root.
func sampleImages(t testing.TB) [2][]string {
	t.Helper()
	var out [2][]string
	root := sampleRoot()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(strings.ToLower(p), ".jpeg") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch filepath.Base(filepath.Dir(p)) {
		case "NORMAL":
			out[labels.Normal] = append(out[labels.Normal], filepath.ToSlash(rel))
		case "PNEUMONIA":
			out[labels.Pneumonia] = append(out[labels.Pneumonia], filepath.ToSlash(rel))
		}
		return nil
	})
	if len(out[0]) < 20 || len(out[1]) < 20 {
		t.Fatalf("testdata/chest_xray holds %d normal and %d pneumonia images; the tests need the repository's sample", len(out[0]), len(out[1]))
	}
	slices.Sort(out[0])
	slices.Sort(out[1])
	return out
}

// interleave lists n images alternating normal, pneumonia, normal, ... starting at
// offset in each class list, as manifest entries of split s (paths relative to the
// sample root).
func interleave(imgs [2][]string, offset, n int, s dataset.Subset) []dataset.Entry {
	return interleaveClasses(imgs[:], offset, n, s)
}

// subtypeImages is the sample's images by class of labels.Subtypes: normal, then the
// pneumonia images split by the cause in their file names.
func subtypeImages(t testing.TB) [][]string {
	imgs := sampleImages(t)
	out := [][]string{imgs[labels.Normal], nil, nil}
	for _, p := range imgs[labels.Pneumonia] {
		if c, ok := dataset.SubtypeOf(p); ok {
			out[c] = append(out[c], p)
		}
	}
	return out
}

// interleaveClasses takes n images from offset on, cycling through the classes.
func interleaveClasses(imgs [][]string, offset, n int, s dataset.Subset) []dataset.Entry {
	var out []dataset.Entry
	k := len(imgs)
	for i := 0; len(out) < n; i++ {
		label := i % k
		p := imgs[label][offset+i/k]
		out = append(out, dataset.Entry{Path: p, Label: label, Split: s, Patient: dataset.PatientID(filepath.Base(p))})
	}
	return out
}

// writeManifest writes a manifest over root with the entries in the given order: of
// normal, bacterial, viral when a label is above 1.
func writeManifest(t testing.TB, path, root string, entries []dataset.Entry) string {
	t.Helper()
	classes := labels.Default()
	for _, e := range entries {
		if e.Label > labels.Pneumonia {
			classes = labels.Subtypes()
		}
	}
	if err := dataset.WriteManifest(path, &dataset.Manifest{Root: root, Classes: classes, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSquarePNGs decodes each entry's X-ray from the sample, resizes it to size x size
// with the project's preprocessing and writes it losslessly as PNG under dir (same
// relative path, .png). Loading those at the same size is then free of resampling, so
// Go and Keras see the same pixels.
func writeSquarePNGs(t testing.TB, dir string, size int, entries []dataset.Entry) []dataset.Entry {
	t.Helper()
	out := make([]dataset.Entry, len(entries))
	for i, e := range entries {
		b, err := os.ReadFile(filepath.Join(sampleRoot(), filepath.FromSlash(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		// Go's decoder and imaging's Linear resize: the images the parity tolerances were
		// measured on (any fixed pixels would do: both sides are fed these PNGs as they are).
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		rgba := imaging.Resize(img, size, size, imaging.Linear)
		for k := 3; k < len(rgba.Pix); k += 4 {
			rgba.Pix[k] = 0xFF
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, rgba); err != nil {
			t.Fatal(err)
		}
		e.Path = strings.TrimSuffix(e.Path, filepath.Ext(e.Path)) + ".png"
		dst := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

// testConfig is a quick, quiet, deterministic run over a manifest.
func testConfig(arch string, size int, manifest, out string) Config {
	cfg := DefaultConfig()
	cfg.Arch, cfg.InputSize, cfg.Manifest, cfg.Out = arch, size, manifest, out
	cfg.Weights, cfg.Quiet = "none", true
	return cfg
}

// flatFloats returns a float32 tensor's values in row-major order.
func flatFloats(t testing.TB, x *tf.Tensor) []float32 {
	t.Helper()
	out, err := tfgraph.Floats(x)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// history reads OUT/history.csv as rows of floats (header dropped).
func readHistory(t testing.TB, path string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "epoch,loss,accuracy,val_loss,val_accuracy,val_auc,lr,seconds" {
		t.Fatalf("%s: header %v", path, recs)
	}
	var rows [][]float64
	for _, r := range recs[1:] {
		row := make([]float64, len(r))
		for i, s := range r {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", path, s, err)
			}
			row[i] = v
		}
		rows = append(rows, row)
	}
	return rows
}

// roundTo8 is x as history.csv writes it: 8 significant digits.
func roundTo8(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 8, 64), 64)
	return v
}

// truncate cuts a file to half its length, as a kill during a non-atomic write would.
func truncate(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}
