package loader

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
)

// The disk cache is checked against the loader without a cache, whose pixels the
// preprocess tests tie to Python TensorFlow: every cached epoch must give the same bits.

// epochImages runs one unshuffled epoch and returns the images in entry order and the
// decodes it needed.
func epochImages(t *testing.T, l *Loader, epoch int) ([]float32, int64) {
	t.Helper()
	_, _, before := l.CacheStats()
	var out []float32
	for _, b := range collect(t, l, epoch) {
		out = append(out, b.Images...)
	}
	_, _, after := l.CacheStats()
	return out, after - before
}

func diskConfig(dir string, budget int64) Config {
	c := smallConfig()
	c.Shuffle, c.CacheDir, c.CacheBytes = false, dir, budget
	return c
}

// uncachedImages is the reference: the loader with no cache at all.
func uncachedImages(t *testing.T, root string, entries []dataset.Entry, size int) []float32 {
	t.Helper()
	c := smallConfig()
	c.Shuffle, c.CacheBytes, c.Size = false, -1, size
	l, err := New(root, entries, c)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := epochImages(t, l, 0)
	if len(want) != len(entries)*c.Len() {
		t.Fatalf("uncached loader: %d floats for %d images", len(want), len(entries))
	}
	return want
}

func openDisk(t *testing.T, root string, entries []dataset.Entry, cfg Config) *Loader {
	t.Helper()
	l, err := New(root, entries, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func sameImages(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d floats, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.IsNaN(float64(got[i])) || math.IsInf(float64(got[i]), 0) || got[i] != want[i] {
			t.Fatalf("%s: float %d (image %d) is %v, uncached loader %v", what, i, i/(32*32*3), got[i], want[i])
		}
	}
}

func TestDiskCacheSamePixels(t *testing.T) {
	m := sampleManifest(t)
	want := uncachedImages(t, m.Root, m.Entries, 32)
	dir := t.TempDir()
	n := int64(len(m.Entries))
	for _, c := range []struct {
		name   string
		budget int64
	}{{"mapped", 0}, {"one chunk of one slot", 32 * 32 * 3}, {"pread only", -1}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := diskConfig(dir, c.budget)
			l := openDisk(t, m.Root, m.Entries, cfg)
			for epoch := range 2 {
				got, decodes := epochImages(t, l, epoch)
				sameImages(t, fmt.Sprintf("epoch %d", epoch), got, want)
				if epoch == 1 && decodes != 0 {
					t.Errorf("epoch 1 decoded %d images, want 0 (all from the cache)", decodes)
				}
			}
			st := l.DiskCacheStats()
			if budget := max(c.budget, 0); c.budget != 0 && st.Mapped > budget {
				t.Errorf("%d bytes mapped, budget %d", st.Mapped, budget)
			}
			l.Close()
			// A new loader (a new run) finds every slot and decodes nothing.
			l2 := openDisk(t, m.Root, m.Entries, cfg)
			got, decodes := epochImages(t, l2, 0)
			sameImages(t, "reopened", got, want)
			if s := l2.DiskCacheStats(); s.Found != int(n) || decodes != 0 || s.Filled != 0 || s.Path != st.Path {
				t.Errorf("reopened %s: found %d of %d, %d decodes, %d filled; want all found, none decoded (first %s)", s.Path, s.Found, n, decodes, s.Filled, st.Path)
			}
		})
	}
}

// copyImages copies the sample's first n images to a fresh root and returns their entries
// without sha256 (so a rewritten file is not a manifest error).
func copyImages(t *testing.T, m *dataset.Manifest, n int) (string, []dataset.Entry) {
	t.Helper()
	root := t.TempDir()
	var out []dataset.Entry
	for _, e := range m.Entries[:n] {
		b, err := os.ReadFile(filepath.Join(m.Root, filepath.FromSlash(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		e.SHA256 = ""
		out = append(out, e)
	}
	return root, out
}

func TestDiskCacheChangedImage(t *testing.T) {
	m := sampleManifest(t)
	root, entries := copyImages(t, m, 12)
	cfg := diskConfig(t.TempDir(), 0)
	l := openDisk(t, root, entries, cfg)
	epochImages(t, l, 0)
	l.Close()

	// Same bytes, new mtime: rehashed, not decoded.
	p0 := filepath.Join(root, filepath.FromSlash(entries[0].Path))
	b0, _ := os.ReadFile(p0)
	if err := os.WriteFile(p0, b0, 0o644); err != nil {
		t.Fatal(err)
	}
	// Image 3 becomes image 7's content: only slot 3 is rebuilt.
	p3 := filepath.Join(root, filepath.FromSlash(entries[3].Path))
	b7, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(entries[7].Path)))
	if err := os.WriteFile(p3, b7, 0o644); err != nil {
		t.Fatal(err)
	}
	want := uncachedImages(t, root, entries, 32)
	l = openDisk(t, root, entries, cfg)
	got, decodes := epochImages(t, l, 0)
	sameImages(t, "after the change", got, want)
	if s := l.DiskCacheStats(); decodes != 1 || s.Filled != 1 || s.Found != len(entries) {
		t.Errorf("changed image: %d decodes, %d filled, %d found; want 1 decode and 1 slot rebuilt of %d", decodes, s.Filled, s.Found, len(entries))
	}
	if per := 32 * 32 * 3; !slices.Equal(got[3*per:4*per], want[7*per:8*per]) {
		t.Error("slot 3 does not hold image 7's pixels after the rewrite")
	}
	l.Close()

	// With the manifest's sha256 the changed file is an error, as without a cache.
	for i := range entries {
		entries[i].SHA256 = m.Entries[i].SHA256
	}
	l = openDisk(t, root, entries, cfg)
	var err error
	for _, e := range l.Epoch(context.Background(), 0) {
		if e != nil {
			err = e
		}
	}
	if !errors.Is(err, dataset.ErrChanged) {
		t.Errorf("cached, file changed since the manifest: %v, want dataset.ErrChanged", err)
	}
}

func TestDiskCacheKey(t *testing.T) {
	m := sampleManifest(t)
	entries := m.Entries[:5]
	dir := t.TempDir()
	path := func(mod func(*Config)) string {
		cfg := diskConfig(dir, 0)
		mod(&cfg)
		l := openDisk(t, m.Root, entries, cfg)
		epochImages(t, l, 0)
		defer l.Close()
		return l.DiskCacheStats().Path
	}
	base := path(func(*Config) {})
	other := map[string]string{
		"input size 40": path(func(c *Config) { c.Size = 40 }),
		"DICOM window":  path(func(c *Config) { c.Window = dicom.Window{Mode: dicom.WindowMinMax} }),
	}
	other["other images"] = func() string {
		l := openDisk(t, m.Root, m.Entries[1:6], diskConfig(dir, 0))
		return l.DiskCacheStats().Path
	}()
	for what, p := range other {
		if p == base {
			t.Errorf("%s: same cache file %s as the base setting", what, p)
		}
	}
	// Scaling comes after the cache: the same pixels, the same file.
	if p := path(func(c *Config) { c.Scaling = preprocess.ImageNet }); p != base {
		t.Errorf("imagenet scaling: cache %s, want the unit-scaling file %s", p, base)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 4 {
		t.Errorf("cache folder holds %v, want 4 cache files", files)
	}
}

// TestDiskCacheDamagedFile: bytes lost under a complete record (a power failure after the
// record reached the disk and before the pixels did) fail the pixels' CRC and that slot
// is decoded again; a cut-short file or a foreign header is made anew.
func TestDiskCacheDamagedFile(t *testing.T) {
	m := sampleManifest(t)
	entries := m.Entries[:10]
	want := uncachedImages(t, m.Root, entries, 32)
	cfg := diskConfig(t.TempDir(), 0)
	l := openDisk(t, m.Root, entries, cfg)
	epochImages(t, l, 0)
	st := l.DiskCacheStats()
	slot0 := l.disk.dataOff + 4*l.disk.slot
	l.Close()

	f, err := os.OpenFile(st.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 100), slot0+50) // slot 4: a hundred bytes zeroed
	f.Close()
	l = openDisk(t, m.Root, entries, cfg)
	got, decodes := epochImages(t, l, 0)
	sameImages(t, "damaged slot", got, want)
	if s := l.DiskCacheStats(); decodes != 1 || s.Filled != 1 {
		t.Errorf("one damaged slot: %d decodes, %d filled; want 1", decodes, s.Filled)
	}
	l.Close()

	for name, damage := range map[string]func(*os.File) error{
		"cut short":      func(f *os.File) error { return f.Truncate(slot0) },
		"foreign header": func(f *os.File) error { _, err := f.WriteAt([]byte("XRAYPIX\x00\x09"), 0); return err },
	} {
		f, err := os.OpenFile(st.Path, os.O_RDWR, 0)
		if err == nil {
			err = damage(f)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		l = openDisk(t, m.Root, entries, cfg)
		got, decodes := epochImages(t, l, 0)
		sameImages(t, name, got, want)
		if s := l.DiskCacheStats(); s.Found != 0 || decodes != int64(len(entries)) {
			t.Errorf("%s: found %d slots, %d decodes; want a new file (0 found, %d decoded)", name, s.Found, decodes, len(entries))
		}
		l.Close()
	}
}
