package loader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/preprocess"
)

// sampleManifest splits testdata/chest_xray (161 images) into a manifest.
func sampleManifest(t *testing.T) *dataset.Manifest {
	t.Helper()
	cfg := dataset.DefaultManifestConfig()
	cfg.Data = filepath.Join("..", "..", "testdata", "chest_xray")
	cfg.Out = filepath.Join(t.TempDir(), "m.csv")
	if _, err := dataset.MakeManifest(cfg); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.ReadManifest(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func smallConfig() Config {
	c := DefaultConfig()
	c.Size, c.BatchSize = 32, 7
	return c
}

// collect runs one epoch and returns its batches.
func collect(t *testing.T, l *Loader, epoch int) []Batch {
	t.Helper()
	var out []Batch
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestLoaderBatches(t *testing.T) {
	m := sampleManifest(t)
	entries := m.Entries
	cfg := smallConfig()
	l, err := New(m.Root, entries, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, size := len(entries), cfg.Len()
	batches := collect(t, l, 0)
	if len(batches) != l.Batches() || l.Batches() != (n+6)/7 {
		t.Fatalf("%d batches, Batches() = %d, want %d", len(batches), l.Batches(), (n+6)/7)
	}
	seen := make([]int, n)
	for k, b := range batches {
		want := min(7, n-7*k)
		if b.Len() != want || len(b.Images) != want*size || len(b.OneHot) != 2*want || len(b.Paths) != want || b.Number != k {
			t.Fatalf("batch %d: %d labels, %d floats, %d one-hot, %d paths; want %d images of %d floats", k, b.Len(), len(b.Images), len(b.OneHot), len(b.Paths), want, size)
		}
		for s, i := range b.Index {
			seen[i]++
			e := entries[i]
			if b.Labels[s] != e.Label || b.Paths[s] != e.Path || b.OneHot[2*s+e.Label] != 1 || b.OneHot[2*s+1-e.Label] != 0 {
				t.Errorf("batch %d slot %d: label %d one-hot %v path %s; entry %+v", k, s, b.Labels[s], b.OneHot[2*s:2*s+2], b.Paths[s], e)
			}
		}
		// Every image is exactly what the one preprocessing function makes of its file.
		if k == 0 || k == len(batches)-1 {
			for s := range b.Index {
				want, err := cfg.File(filepath.Join(m.Root, b.Paths[s]))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(b.Images[s*size:(s+1)*size], want) {
					t.Errorf("batch %d slot %d (%s) differs from Preprocessor.File", k, s, b.Paths[s])
				}
			}
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("%s seen %d times in one epoch", entries[i].Path, c)
		}
	}
}

func TestLoaderOrder(t *testing.T) {
	m := sampleManifest(t)
	entries := m.Subset(dataset.Train)
	order := func(cfg Config, epoch int) ([]int, []float32) {
		l, err := New(m.Root, entries, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		var first []float32
		for _, b := range collect(t, l, epoch) {
			idx = append(idx, b.Index...)
			if first == nil {
				first = b.Images
			}
		}
		if want := l.Order(epoch); !slices.Equal(idx, want) {
			t.Errorf("epoch %d visited %v, Order says %v", epoch, idx, want)
		}
		return idx, first
	}
	cfg := smallConfig()
	a3, img3 := order(cfg, 3)
	b3, again3 := order(cfg, 3) // a fresh loader, as after a restart
	a4, _ := order(cfg, 4)
	if !slices.Equal(a3, b3) || !slices.Equal(img3, again3) {
		t.Error("same seed and epoch, different batches")
	}
	if slices.Equal(a3, a4) {
		t.Error("epochs 3 and 4 visit images in the same order")
	}
	if want := dataset.EpochOrder(len(entries), cfg.Seed, 3); !slices.Equal(a3, want) {
		t.Error("shuffled order is not dataset.EpochOrder(n, seed, epoch)")
	}
	cfg.Seed++
	if s, _ := order(cfg, 3); slices.Equal(s, a3) {
		t.Error("another seed, same order")
	}
	cfg.Shuffle = false
	for _, e := range []int{0, 5} {
		if s, _ := order(cfg, e); !slices.IsSorted(s) || len(s) != len(entries) {
			t.Errorf("shuffle off, epoch %d: order %v is not the manifest's", e, s)
		}
	}
}

func TestLoaderCache(t *testing.T) {
	m := sampleManifest(t)
	entries := m.Subset(dataset.Test)
	n := int64(len(entries))
	per := int64(smallConfig().Len())
	for _, c := range []struct {
		name                 string
		budget               int64
		cached, decodesAfter int64 // after two epochs
	}{
		{"fits", 0, n, n},
		{"off", -1, 0, 2 * n},
		{"half", per * (n / 2), n / 2, n + (n - n/2)},
	} {
		cfg := smallConfig()
		cfg.CacheBytes = c.budget
		l, err := New(m.Root, entries, cfg)
		if err != nil {
			t.Fatal(err)
		}
		first := collect(t, l, 0)
		second := collect(t, l, 0)
		images, bytes, decodes := l.CacheStats()
		if int64(images) != c.cached || bytes != c.cached*per || decodes != c.decodesAfter {
			t.Errorf("%s: %d cached (%d bytes), %d decodes; want %d cached, %d decodes", c.name, images, bytes, decodes, c.cached, c.decodesAfter)
		}
		for k := range first {
			if !slices.Equal(first[k].Images, second[k].Images) {
				t.Errorf("%s: batch %d differs between a decoded and a cached epoch", c.name, k)
			}
		}
	}
}

// goroutines waits (bounded) for the goroutine count to fall back to base.
func goroutinesBackTo(base int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > base; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestLoaderCancelAndBreak(t *testing.T) {
	m := sampleManifest(t)
	cfg := smallConfig()
	cfg.CacheBytes = -1
	cfg.BatchSize = 3
	base := runtime.NumGoroutine()

	l, err := New(m.Root, m.Entries, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got int
	var last error
	for b, err := range l.Epoch(ctx, 1) {
		if err != nil {
			last = err
			break
		}
		got++
		if b.Number == 1 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || got >= l.Batches() {
		t.Errorf("after cancel: %d of %d batches, error %v; want context.Canceled before the end", got, l.Batches(), last)
	}
	if n := goroutinesBackTo(base); n > base {
		t.Errorf("%d goroutines after a cancelled epoch, %d before", n, base)
	}

	for b := range l.Epoch(context.Background(), 2) {
		if b.Number == 2 {
			break
		}
	}
	if n := goroutinesBackTo(base); n > base {
		t.Errorf("%d goroutines after breaking out of an epoch, %d before", n, base)
	}

	done, cancelled := context.WithCancel(context.Background())
	cancelled()
	for _, err := range l.Epoch(done, 0) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("epoch on a cancelled context yielded %v", err)
		}
	}
}

func TestLoaderBadImages(t *testing.T) {
	root := t.TempDir()
	good, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "formats", "gray.jpeg"))
	put(t, filepath.Join(root, "NORMAL", "IM-0001-0001.jpeg"), good)
	put(t, filepath.Join(root, "PNEUMONIA", "person1_virus_1.jpeg"), good)
	in, err := dataset.Ingest(root, dataset.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	check := func(what, want string) {
		t.Helper()
		l, err := New(root, in.Entries, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var last error
		for _, err := range l.Epoch(context.Background(), 0) {
			last = err
		}
		if last == nil || !strings.Contains(last.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", what, last, want)
		}
	}
	put(t, filepath.Join(root, "NORMAL", "IM-0001-0001.jpeg"), withComment(good, "edited"))
	check("changed file", "IM-0001-0001.jpeg: contents changed since the manifest was made")
	os.Remove(filepath.Join(root, "NORMAL", "IM-0001-0001.jpeg"))
	check("missing file", "IM-0001-0001.jpeg: no such file")
	in.Entries[0].SHA256 = ""
	put(t, filepath.Join(root, "NORMAL", "IM-0001-0001.jpeg"), good[:len(good)/2])
	check("truncated file", "IM-0001-0001.jpeg: corrupt jpeg")

	for _, bad := range []Config{
		{Preprocessor: preprocess.DefaultPreprocessor(), BatchSize: 0},
		{Preprocessor: preprocess.Preprocessor{Size: 0, Scaling: preprocess.Unit}, BatchSize: 1},
		{Preprocessor: preprocess.Preprocessor{Size: 8, Scaling: "caffe"}, BatchSize: 1},
		{Preprocessor: preprocess.DefaultPreprocessor(), BatchSize: 1, Augment: Augment{Translate: 1.5}},
	} {
		if _, err := New(root, in.Entries, bad); err == nil {
			t.Errorf("NewLoader accepted %+v", bad)
		}
	}
	if _, err := New(root, nil, DefaultConfig()); err == nil {
		t.Error("NewLoader accepted no images")
	}
	wrong := append([]dataset.Entry(nil), in.Entries...)
	wrong[0].Label = 2
	if _, err := New(root, wrong, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "label 2") {
		t.Errorf("NewLoader with label 2: %v", err)
	}
}

// put writes b to path, making its folders.
func put(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// withComment inserts a COM segment after SOI: the same image, different bytes.
func withComment(j []byte, c string) []byte {
	seg := []byte{0xFF, 0xFE, byte((len(c) + 2) >> 8), byte(len(c) + 2)}
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	out = append(out, c...)
	return append(out, j[2:]...)
}
