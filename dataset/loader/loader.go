package loader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
)

// Config configures a Loader. Start from DefaultConfig: its zero value does not
// shuffle.
type Config struct {
	preprocess.Preprocessor       // input size and scaling
	BatchSize               int   // images per batch; the last batch of an epoch may be smaller
	Shuffle                 bool  // visit images in dataset.EpochOrder(n, Seed, epoch) instead of entry order
	Seed                    int64 // shuffling and augmentation seed
	Workers                 int   // decoding goroutines; default GOMAXPROCS
	Prefetch                int   // batches prepared ahead of the consumer; default 2
	// CacheBytes bounds the in-memory cache of decoded, resized uint8 images, so epochs
	// after the first skip decoding: 0 picks min(4 GiB, half the available memory), a
	// negative value turns the cache off. Images beyond the budget are decoded every time.
	CacheBytes int64
	// CacheDir, when set, keeps every image's resized pixels in a file in this folder
	// (diskcache.go), reused by later runs with the same images, size and preprocessing;
	// CacheBytes then bounds the bytes of it mapped into memory (0: the default above, a
	// negative value: none, every read is a pread) and nothing is cached on the heap.
	CacheDir string
	Augment  Augment // training-time augmentation; off when zero (the paper trains without it)
	Classes  int     // width of the one-hot labels: the vocabulary's size; 0 means 2
}

// DefaultConfig is the paper's: 256 x 256, [0, 1], batches of 20, reshuffled every
// epoch, cache on.
func DefaultConfig() Config {
	return Config{Preprocessor: preprocess.DefaultPreprocessor(), BatchSize: 20, Shuffle: true, Seed: 42, Prefetch: 2}
}

// Batch is one step's input. The slices belong to the caller.
type Batch struct {
	Images []float32 // N x Size x Size x 3, row-major (NHWC), scaled
	Labels []int     // N class labels
	OneHot []float32 // N x Classes, one-hot labels
	Paths  []string  // N paths relative to the data root
	Index  []int     // N positions in the entries given to NewLoader
	Epoch  int
	Number int // batch number within the epoch, from 0
}

// Len is the number of images in the batch.
func (b Batch) Len() int { return len(b.Labels) }

// Loader yields preprocessed batches of a fixed list of images, decoding in parallel.
type Loader struct {
	root    string
	entries []dataset.Entry
	cfg     Config
	cache   []atomic.Pointer[[]uint8]
	used    atomic.Int64 // cache bytes
	budget  int64
	decodes atomic.Int64 // images decoded so far (cache misses), for tests and stats
	disk    *diskCache   // nil without CacheDir
}

// NewLoader makes a loader over entries (for example m.Subset(dataset.Train)) whose paths
// are relative to root (m.Root).
func New(root string, entries []dataset.Entry, cfg Config) (*Loader, error) {
	if err := cfg.Preprocessor.Validate(); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errors.New("loader: no images (is the split empty? check the manifest)")
	}
	if cfg.Classes == 0 {
		cfg.Classes = labels.Default().Len()
	}
	if cfg.Classes < 2 {
		return nil, fmt.Errorf("loader: %d classes: use 2 or more", cfg.Classes)
	}
	for _, e := range entries {
		if e.Label < 0 || e.Label >= cfg.Classes {
			return nil, fmt.Errorf("loader: %s has label %d: want a class id 0..%d", e.Path, e.Label, cfg.Classes-1)
		}
	}
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("loader: batch size %d: use 1 or more (the paper uses 20)", cfg.BatchSize)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2
	}
	if err := cfg.Augment.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	l := &Loader{root: root, entries: entries, cfg: cfg, cache: make([]atomic.Pointer[[]uint8], len(entries))}
	switch {
	case cfg.CacheBytes < 0:
		l.budget = 0
	case cfg.CacheBytes == 0:
		l.budget = defaultCacheBudget()
	default:
		l.budget = cfg.CacheBytes
	}
	if cfg.CacheDir != "" {
		d, err := openDiskCache(cfg.CacheDir, cfg.Preprocessor, entries, l.budget)
		if err != nil {
			return nil, err
		}
		l.disk, l.budget = d, 0
	}
	return l, nil
}

// Close releases the disk cache's file and mappings (a no-op without one). The loader
// must not be used afterwards.
func (l *Loader) Close() error {
	if l.disk == nil {
		return nil
	}
	return l.disk.Close()
}

// DiskCacheStats describes the on-disk cache; zero without CacheDir.
func (l *Loader) DiskCacheStats() DiskCacheStats {
	if l.disk == nil {
		return DiskCacheStats{}
	}
	return DiskCacheStats{Path: l.disk.path, Images: len(l.entries), Found: l.disk.found, Filled: l.disk.filled.Load(), Mapped: l.disk.win.mappedBytes()}
}

// defaultCacheBudget is min(4 GiB, half of MemAvailable), or 1 GiB when that is unknown.
func defaultCacheBudget() int64 {
	const maxBudget = 4 << 30
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 1 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return min(maxBudget, kb*1024/2)
			}
		}
	}
	return 1 << 30
}

// Len is the number of images per epoch.
func (l *Loader) Len() int { return len(l.entries) }

// Batches is the number of batches per epoch.
func (l *Loader) Batches() int { return (len(l.entries) + l.cfg.BatchSize - 1) / l.cfg.BatchSize }

// Order is the visiting order of an epoch: positions in the entries, a deterministic
// function of (Seed, epoch) when shuffling, the entries' order otherwise. Batch k of the
// epoch holds Order(epoch)[k*BatchSize:(k+1)*BatchSize].
func (l *Loader) Order(epoch int) []int {
	if l.cfg.Shuffle {
		return dataset.EpochOrder(len(l.entries), l.cfg.Seed, epoch)
	}
	o := make([]int, len(l.entries))
	for i := range o {
		o[i] = i
	}
	return o
}

// CacheStats reports the cached images, their bytes, and the decodes done so far.
func (l *Loader) CacheStats() (images int, bytes int64, decodes int64) {
	for i := range l.cache {
		if l.cache[i].Load() != nil {
			images++
		}
	}
	return images, l.used.Load(), l.decodes.Load()
}

type pending struct {
	b    Batch
	left atomic.Int32
	done chan struct{}
	err  atomic.Pointer[error]
}

func (p *pending) fail(err error) { p.err.CompareAndSwap(nil, &err) }

type job struct {
	p    *pending
	slot int
}

// Epoch yields the batches of one epoch in order. Stop early by breaking out of the loop;
// cancelling ctx ends it with ctx's error. Either way every goroutine it started has
// exited when the loop is over. An unreadable, changed or undecodable image ends the
// epoch with an error naming the file.
//
//	for b, err := range loader.Epoch(ctx, epoch) {
//		if err != nil { return err }
//		... b.Images, b.OneHot ...
//	}
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		parent := ctx
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		order := l.Order(epoch)
		bs, size := l.cfg.BatchSize, l.cfg.Len()
		jobs := make(chan job, bs)
		ready := make(chan *pending, l.cfg.Prefetch)
		slots := make(chan struct{}, l.cfg.Prefetch)

		for range l.cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if ctx.Err() == nil {
						if err := l.fill(j.p, j.slot, size); err != nil {
							j.p.fail(err)
						}
					}
					if j.p.left.Add(-1) == 0 {
						close(j.p.done)
					}
				}
			}()
		}
		wg.Add(1)
		go func() { // producer: batches in order, at most Prefetch of them in flight
			defer wg.Done()
			defer close(jobs)
			defer close(ready)
			for k := 0; k*bs < len(order); k++ {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				idx := order[k*bs : min((k+1)*bs, len(order))]
				p := l.newPending(idx, epoch, k, size)
				ready <- p // never blocks: ready holds at most the Prefetch slots
				for s := range idx {
					select {
					case jobs <- job{p, s}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()

		for p := range ready {
			select {
			case <-p.done:
			case <-ctx.Done():
				yield(Batch{}, parent.Err())
				return
			}
			// Both cases of the select above can be ready at once and Go picks one at random;
			// a batch finished after cancellation may be unfilled, so cancellation wins here.
			if err := parent.Err(); err != nil {
				yield(Batch{}, err)
				return
			}
			if err := p.err.Load(); err != nil {
				yield(Batch{}, *err)
				return
			}
			<-slots
			if !yield(p.b, nil) {
				return
			}
		}
		if err := parent.Err(); err != nil {
			yield(Batch{}, err)
		}
	}
}

func (l *Loader) newPending(idx []int, epoch, number, size int) *pending {
	n := len(idx)
	p := &pending{done: make(chan struct{})}
	p.left.Store(int32(n))
	p.b = Batch{
		Images: make([]float32, n*size),
		Labels: make([]int, n),
		OneHot: make([]float32, n*l.cfg.Classes),
		Paths:  make([]string, n),
		Index:  append([]int(nil), idx...),
		Epoch:  epoch,
		Number: number,
	}
	for s, i := range idx {
		e := l.entries[i]
		p.b.Labels[s] = e.Label
		p.b.OneHot[l.cfg.Classes*s+e.Label] = 1
		p.b.Paths[s] = e.Path
	}
	return p
}

// fill preprocesses one image of a batch into its slot.
func (l *Loader) fill(p *pending, slot, size int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("load %s: internal error: %v", p.b.Paths[slot], r)
		}
	}()
	i := p.b.Index[slot]
	return l.withPixels(i, func(pix []uint8) error {
		if a := l.cfg.Augment; a.On() {
			out := make([]uint8, len(pix))
			a.Draw(l.cfg.Seed, p.b.Epoch, i, l.cfg.Size).Apply(out, pix, l.cfg.Size)
			pix = out
		}
		l.cfg.Scaling.Apply(pix, p.b.Images[slot*size:(slot+1)*size])
		return nil
	})
}

// withPixels passes entry i's resized uint8 pixels to use (which must not keep them):
// from the disk cache, the memory cache, or by decoding (and then caching them while
// the budget allows).
func (l *Loader) withPixels(i int, use func([]uint8) error) error {
	if l.disk != nil {
		return l.disk.load(i, l.entries[i], l.root, func() ([]byte, error) { return l.source(i) }, func(b []byte) ([]uint8, error) { return l.decode(i, b) }, use)
	}
	if c := l.cache[i].Load(); c != nil {
		return use(*c)
	}
	b, err := l.source(i)
	if err != nil {
		return err
	}
	pix, err := l.decode(i, b)
	if err != nil {
		return err
	}
	if n := int64(len(pix)); l.used.Add(n) <= l.budget {
		if !l.cache[i].CompareAndSwap(nil, &pix) {
			l.used.Add(-n)
		}
	} else {
		l.used.Add(-n)
	}
	return use(pix)
}

// source reads entry i's file, checked against the manifest's sha256.
func (l *Loader) source(i int) ([]byte, error) {
	b, err := l.entries[i].ReadFile(l.root)
	if errors.Is(err, dataset.ErrChanged) {
		return nil, fmt.Errorf("load image %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("load image: %w (is the manifest's data root right?)", err)
	}
	return b, nil
}

// decode preprocesses entry i's bytes to resized uint8 pixels.
func (l *Loader) decode(i int, b []byte) ([]uint8, error) {
	pix, err := l.cfg.EncodedPixels(b)
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", filepath.Join(l.root, filepath.FromSlash(l.entries[i].Path)), err)
	}
	l.decodes.Add(1)
	return pix, nil
}
