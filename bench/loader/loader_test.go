// Package loader benchmarks loader.Loader (decode + resize + batch, in parallel) against
// a tf.data pipeline doing the same work in Python on the same machine, and prints the
// ratio: the uncached loader against tf.data without a cache, the cached loader against
// tf.data with .cache() (and, for scale, against the uncached pipeline). Not part of the tests (benchmarks only run with -bench):
//
//	source scripts/env.sh
//	go test ./bench/loader -run '^$' -bench . -benchtime 3x
//	XRAY_BENCH_DATA=$PWD/../shared/data/kermany-originals/train go test ./bench/loader -run '^$' -bench . -benchtime 2x
//
// It reports images per second (wall clock) and images per CPU second (user + system of
// the whole process: less distorted when other work shares the machine), and both ratios.
// XRAY_BENCH_DATA is any Kermany tree (default: testdata/chest_xray, 161 images, mostly
// 224 x 224); XRAY_BENCH_SIZE the input size (default 256).
package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
)

func benchData(b *testing.B) (root string, entries []dataset.Entry, size int) {
	b.Helper()
	root = os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray")
	}
	size = preprocess.DefaultSize
	if s := os.Getenv("XRAY_BENCH_SIZE"); s != "" {
		var err error
		if size, err = strconv.Atoi(s); err != nil {
			b.Fatalf("XRAY_BENCH_SIZE=%q: %v", s, err)
		}
	}
	in, err := dataset.Ingest(root, dataset.IngestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return in.Root, in.Entries, size
}

var (
	tfOnce sync.Once
	tf     map[string]rates // "uncached", "cached"
)

// rates are images per wall-clock second and per CPU second (user + system, all threads).
type rates struct{ wall, cpu float64 }

// cpuSeconds is this process's user + system time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// tfdata measures the Python tf.data pipelines, uncached and with .cache(), once per
// process.
func tfdata(b *testing.B, root string, entries []dataset.Entry, size int) map[string]rates {
	tfOnce.Do(func() {
		args := []string{strconv.Itoa(size), "20", "3"}
		for _, e := range entries {
			args = append(args, filepath.Join(root, filepath.FromSlash(e.Path)))
		}
		out := pyref.Run(b, pyref.Script("dataset_tfdata_bench.py"), args...)
		var r map[string]struct {
			ImagesPerS    float64 `json:"images_per_s"`
			ImagesPerCPUS float64 `json:"images_per_cpu_s"`
		}
		if err := json.Unmarshal(out, &r); err != nil || len(r) != 2 {
			b.Fatalf("tf.data bench output %q: %v", out, err)
		}
		tf = map[string]rates{}
		for k, v := range r {
			tf[k] = rates{v.ImagesPerS, v.ImagesPerCPUS}
		}
	})
	return tf
}

// BenchmarkLoader: one op is one epoch. "decode" runs without the cache (every image
// decoded and resized), against tf.data without a cache; "cached" is an epoch after the
// first, when the resized uint8 pixels come from memory, against tf.data's .cache() (which
// holds the resized float32 images) and, as tfdata-uncached, against the uncached pipeline.
func BenchmarkLoader(b *testing.B) {
	root, entries, size := benchData(b)
	for _, mode := range []string{"decode", "cached"} {
		b.Run(fmt.Sprintf("%s/%dpx", mode, size), func(b *testing.B) {
			cfg := loader.DefaultConfig()
			cfg.Size = size
			if mode == "decode" {
				cfg.CacheBytes = -1
			}
			l, err := loader.New(root, entries, cfg)
			if err != nil {
				b.Fatal(err)
			}
			epoch := func(e int) {
				for _, err := range l.Epoch(context.Background(), e) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			if mode == "cached" {
				epoch(0) // fill the cache
			}
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuSeconds()
			for i := 0; i < b.N; i++ {
				epoch(i + 1)
			}
			n := float64(b.N * len(entries))
			us := rates{n / time.Since(start).Seconds(), n / (cpuSeconds() - cpu0)}
			b.StopTimer()
			all := tfdata(b, root, entries, size)
			tf := all["uncached"]
			if mode == "cached" {
				tf = all["cached"]
				unc := all["uncached"]
				b.ReportMetric(us.wall/unc.wall, "x-tfdata-uncached")
				b.ReportMetric(us.cpu/unc.cpu, "x-tfdata-uncached-cpu")
			}
			b.ReportMetric(us.wall, "img/s")
			b.ReportMetric(tf.wall, "tfdata-img/s")
			b.ReportMetric(us.wall/tf.wall, "x-tfdata")
			b.ReportMetric(us.cpu/tf.cpu, "x-tfdata-cpu")
			b.Logf("%d images at %d px, GOMAXPROCS=%d, Go loader (%s) vs tf.data (%s): %.0f vs %.0f img/s (ratio %.2f); per CPU second %.0f vs %.0f (ratio %.2f)",
				len(entries), size, runtime.GOMAXPROCS(0), mode, map[string]string{"decode": "uncached", "cached": ".cache()"}[mode],
				us.wall, tf.wall, us.wall/tf.wall, us.cpu, tf.cpu, us.cpu/tf.cpu)
		})
	}
}
