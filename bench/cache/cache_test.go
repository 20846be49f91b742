// Package cache benchmarks cached epochs of loader.Loader three ways on the same files:
// from the on-disk pixel cache (LoaderConfig.CacheDir, `xray train --cache-dir`, read
// through a bounded mmap window), from the in-memory cache (the default), and tf.data
// reading its own file cache (.cache(filename)) in Python, and prints the ratios. Rounds
// alternate Go and Python so both see the same machine load; the best epoch of each
// counts. Not part of the tests (benchmarks only run with -bench):
//
//	source scripts/env.sh
//	go test ./bench/cache -run '^$' -bench . -benchtime 1x
//	XRAY_BENCH_DATA=$PWD/../shared/data/kermany-224/train XRAY_BENCH_SIZE=224 go test ./bench/cache -run '^$' -bench . -benchtime 1x
//
// XRAY_BENCH_DATA is any Kermany tree (default testdata/chest_xray, 161 images);
// XRAY_BENCH_SIZE the input size (default 256); XRAY_BENCH_CACHE_MEMORY the disk cache's
// memory budget in bytes (default 64 MiB, far below the pixels of a large tree);
// XRAY_BENCH_ROUNDS the rounds (default 3, each one Go epoch per cache and two tf.data epochs).
//
// BenchmarkDiskCacheRSS (rss_test.go) measures the peak RSS of a loader-only child process
// with each cache over a few hundred images and over the whole tree.
package cache

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
)

func envInt(b *testing.B, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// rate is images per wall-clock second and per CPU second of the measuring process.
type rate struct{ wall, cpu float64 }

func (r rate) best(o rate) rate { return rate{max(r.wall, o.wall), max(r.cpu, o.cpu)} }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// epoch runs one epoch and returns its rate.
func epoch(b *testing.B, l *loader.Loader, e int) rate {
	start, cpu0 := time.Now(), cpuSeconds()
	for _, err := range l.Epoch(context.Background(), e) {
		if err != nil {
			b.Fatal(err)
		}
	}
	n := float64(l.Len())
	return rate{n / time.Since(start).Seconds(), n / (cpuSeconds() - cpu0)}
}

// tfdataRound runs the Python pipeline over its file cache and returns its best epoch.
func tfdataRound(b *testing.B, files []string, size int, cache string) (rate, int64) {
	args := append([]string{strconv.Itoa(size), "20", "2", cache}, files...)
	out := pyref.Run(b, pyref.Script("dataset_tfdata_filecache_bench.py"), args...)
	var r struct {
		Epochs []struct {
			Seconds    float64 `json:"seconds"`
			CPUSeconds float64 `json:"cpu_seconds"`
		} `json:"epochs"`
		Images     int   `json:"images"`
		CacheBytes int64 `json:"cache_bytes"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Epochs) == 0 || r.Images != len(files) {
		b.Fatalf("tf.data output %q: %v", out, err)
	}
	var best rate
	for _, e := range r.Epochs {
		best = best.best(rate{float64(r.Images) / e.Seconds, float64(r.Images) / e.CPUSeconds})
	}
	return best, r.CacheBytes
}

// BenchmarkDiskCache: one op is the whole comparison (use -benchtime 1x).
func BenchmarkDiskCache(b *testing.B) {
	root := os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray")
	}
	size := int(envInt(b, "XRAY_BENCH_SIZE", preprocess.DefaultSize))
	budget := envInt(b, "XRAY_BENCH_CACHE_MEMORY", 64<<20)
	rounds := int(envInt(b, "XRAY_BENCH_ROUNDS", 3))
	in, err := dataset.Ingest(root, dataset.IngestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	files := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		files[i] = filepath.Join(in.Root, filepath.FromSlash(e.Path))
	}
	tmp := b.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, "tfdata"), 0o755); err != nil {
		b.Fatal(err)
	}
	open := func(dir string, bytes int64) *loader.Loader {
		cfg := loader.DefaultConfig()
		cfg.Size, cfg.CacheDir, cfg.CacheBytes = size, dir, bytes
		l, err := loader.New(in.Root, in.Entries, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		return l
	}
	for i := 0; i < b.N; i++ {
		load0 := benchutil.Load()
		disk, mem := open(filepath.Join(tmp, "pixels"), budget), open("", 0)
		fill := time.Now()
		epoch(b, disk, 0)
		fillDisk := time.Since(fill)
		epoch(b, mem, 0)
		var d, m, t rate
		var tfBytes int64
		for r := 1; r <= rounds; r++ {
			d = d.best(epoch(b, disk, r))
			m = m.best(epoch(b, mem, r))
			var tr rate
			tr, tfBytes = tfdataRound(b, files, size, filepath.Join(tmp, "tfdata", "cache"))
			t = t.best(tr)
		}
		st := disk.DiskCacheStats()
		fi, _ := os.Stat(st.Path)
		b.ReportMetric(d.wall, "disk-img/s")
		b.ReportMetric(m.wall, "memory-img/s")
		b.ReportMetric(t.wall, "tfdata-file-img/s")
		b.ReportMetric(d.wall/m.wall, "x-memory")
		b.ReportMetric(d.wall/t.wall, "x-tfdata-file")
		b.ReportMetric(d.cpu/t.cpu, "x-tfdata-file-cpu")
		b.Logf("%d images at %d px, GOMAXPROCS=%d, best of %d rounds, load average %s -> %s", len(files), size, runtime.GOMAXPROCS(0), rounds, load0, benchutil.Load())
		b.Logf("first epoch filling the disk cache: %.1f s; cache file %d MiB, tf.data's %d MiB; %d MiB mapped (budget %d MiB)",
			fillDisk.Seconds(), fi.Size()>>20, tfBytes>>20, st.Mapped>>20, budget>>20)
		b.Logf("cached epochs, img/s wall (per CPU-second): disk cache %.0f (%.0f), memory cache %.0f (%.0f), tf.data .cache(file) %.0f (%.0f)",
			d.wall, d.cpu, m.wall, m.cpu, t.wall, t.cpu)
		b.Logf("ratios: disk/memory %.2f (cpu %.2f); disk/tf.data-file %.2f (cpu %.2f); memory/tf.data-file %.2f",
			d.wall/m.wall, d.cpu/m.cpu, d.wall/t.wall, d.cpu/t.cpu, m.wall/t.wall)
	}
}
