package cache

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/preprocess"
)

// TestMain lets BenchmarkDiskCacheRSS run this binary as a child that only loads
// (XRAY_BENCH_RSS_CHILD set): its peak RSS is the loader's and TensorFlow's, nothing else.
func TestMain(m *testing.M) {
	if os.Getenv("XRAY_BENCH_RSS_CHILD") != "" {
		if err := rssChild(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// rssChild runs two shuffled epochs over the first N images of DATA at SIZE, with the
// disk cache in CACHEDIR (none: the in-memory cache) and a memory budget of BUDGET bytes.
func rssChild() error {
	get := func(k string) string { return os.Getenv("XRAY_BENCH_RSS_" + k) }
	in, err := dataset.Ingest(get("DATA"), dataset.IngestOptions{})
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(get("N"))
	cfg := loader.DefaultConfig()
	cfg.Size, _ = strconv.Atoi(get("SIZE"))
	cfg.CacheBytes, _ = strconv.ParseInt(get("BUDGET"), 10, 64)
	cfg.CacheDir = get("CACHEDIR")
	l, err := loader.New(in.Root, in.Entries[:min(n, len(in.Entries))], cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	for e := range 2 {
		for _, err := range l.Epoch(context.Background(), e) {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkDiskCacheRSS: peak RSS of a loader-only process over a few hundred images
// and over the whole tree, with the disk cache (XRAY_BENCH_CACHE_MEMORY window, default
// 64 MiB) and with the in-memory cache (which holds every image). The disk cache's peak
// should not grow with the images; the memory cache's does.
func BenchmarkDiskCacheRSS(b *testing.B) {
	root := os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join("..", "..", "testdata", "chest_xray")
	}
	size := envInt(b, "XRAY_BENCH_SIZE", preprocess.DefaultSize)
	budget := envInt(b, "XRAY_BENCH_CACHE_MEMORY", 64<<20)
	in, err := dataset.Ingest(root, dataset.IngestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	all, few := len(in.Entries), min(300, len(in.Entries)/4)
	peak := func(n int, cacheDir string, bytes int64) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "XRAY_BENCH_RSS_CHILD=1", "XRAY_BENCH_RSS_DATA="+root, "XRAY_BENCH_RSS_N="+strconv.Itoa(n),
			"XRAY_BENCH_RSS_SIZE="+strconv.FormatInt(size, 10), "XRAY_BENCH_RSS_BUDGET="+strconv.FormatInt(bytes, 10), "XRAY_BENCH_RSS_CACHEDIR="+cacheDir)
		_, p, err := benchutil.RunChild(cmd)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		load := benchutil.Load()
		diskFew, diskAll := peak(few, dir, budget), peak(all, dir, budget)
		memFew, memAll := peak(few, "", 0), peak(all, "", 0)
		pixels := int64(all) * size * size * 3
		b.ReportMetric(float64(diskAll>>20), "disk-peak-MiB")
		b.ReportMetric(float64(memAll>>20), "memory-peak-MiB")
		b.Logf("%d images at %d px (%d MiB of pixels), 2 epochs, load average %s -> %s", all, size, pixels>>20, load, benchutil.Load())
		b.Logf("peak RSS, disk cache (%d MiB window): %d images %d MiB, %d images %d MiB (growth %d MiB)", budget>>20, few, diskFew>>20, all, diskAll>>20, (diskAll-diskFew)>>20)
		b.Logf("peak RSS, memory cache: %d images %d MiB, %d images %d MiB (growth %d MiB)", few, memFew>>20, all, memAll>>20, (memAll-memFew)>>20)
	}
}
