// Package adapt benchmarks `xray adapt` (layerwise AdaBN, whole process) against the same
// computation in Python TensorFlow (scripts/ref/adapt_ref.py --bench: the SavedModel
// loaded with tf.compat.v1, the files preprocessed once by serving_bytes's graph, each
// BatchNormalization layer measured over streamed batches with float64 accumulators, the
// saver writing the result). It prints wall time and peak RSS of each and the ratios.
// Not part of the tests:
//
//	source scripts/env.sh
//	go test ./bench/adapt -run '^$' -bench . -benchtime 1x
//	XRAY_BENCH_DATA=$PWD/../shared/data/kermany-224/train XRAY_BENCH_N=640 XRAY_BENCH_SIZE=128 \
//	  go test ./bench/adapt -run '^$' -bench . -benchtime 1x -timeout 2h
//
// XRAY_BENCH_DATA is a folder searched for *.jpeg one level down (default
// testdata/chest_xray/*, 161 images), XRAY_BENCH_N caps the files (default 64),
// XRAY_BENCH_SIZE the untrained MobileNet's input (default 128). With -benchtime Nx each
// side runs N times, alternating; the ratios are of the best times and largest peaks.
package adapt

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/internal/pyref"
)

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// benchList writes the list of image files and returns it with their count.
func benchList(b *testing.B) (string, int) {
	b.Helper()
	root := os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "*")
	}
	files, _ := filepath.Glob(filepath.Join(root, "*", "*.jpeg"))
	sort.Strings(files)
	n := envInt(b, "XRAY_BENCH_N", 64)
	if len(files) < n {
		b.Fatalf("%d images under %s, want %d", len(files), root, n)
	}
	// Spread the picks over the sorted list, so both classes appear.
	picked := make([]string, n)
	for i := range picked {
		picked[i] = files[i*len(files)/n]
	}
	list := filepath.Join(b.TempDir(), "images.txt")
	if err := os.WriteFile(list, []byte(strings.Join(picked, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return list, n
}

func BenchmarkAdapt(b *testing.B) {
	python := pyref.Require(b)
	size := envInt(b, "XRAY_BENCH_SIZE", 128)
	model := benchutil.UntrainedModel(b, size)
	list, n := benchList(b)
	bin := filepath.Join(b.TempDir(), "xray")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/xraylab/xray/cmd/xray").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := b.TempDir()
	wall := map[string]time.Duration{}
	peak := map[string]int64{}
	run := func(key string, cmd *exec.Cmd) {
		cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=")
		w, p, err := benchutil.RunChild(cmd)
		if err != nil {
			b.Fatal(err)
		}
		if old, ok := wall[key]; !ok || w < old {
			wall[key] = w
		}
		peak[key] = max(peak[key], p)
	}
	for i := 0; i < b.N; i++ {
		out := func(name string) string { os.RemoveAll(filepath.Join(tmp, name)); return filepath.Join(tmp, name) }
		run("xray", exec.Command(bin, "adapt", "--savedmodel", model, "--input", list, "--out", out("x")))
		run("python", exec.Command(python, pyref.Script("adapt_ref.py"), "--bench", model, list, out("p"), "32"))
	}
	fmt.Printf("adapt layerwise, MobileNet %d px, %d images (load %s)\n", size, n, benchutil.Load())
	for _, k := range []string{"xray", "python"} {
		fmt.Printf("  %-7s %7.1f s  peak RSS %5d MiB\n", k, wall[k].Seconds(), peak[k]>>20)
	}
	fmt.Printf("  python/xray: wall %.2fx, peak RSS %.2fx\n", wall["python"].Seconds()/wall["xray"].Seconds(), float64(peak["python"])/float64(peak["xray"]))
}
