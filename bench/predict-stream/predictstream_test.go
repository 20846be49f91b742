// Package predictstream benchmarks archive-scale prediction, whole processes on the same
// files: streaming `xray predict --input LIST --out FILE` against the Python reference
// (scripts/ref/predict_stream_ref.py: tf.saved_model.load, serving_bytes a batch at a
// time), and `xray batch` (the Beam pipeline on Prism, in process) with GOMAXPROCS 1 and 2
// (Prism runs one in-process SDK worker; its parallelism is its bundles on the cores the
// process has). It prints images per second and the ratios, twice: for whole processes
// (start-up included) and after start-up, where each side's time for one file is
// subtracted from its time for all N (the same subtraction on both sides: what is left is
// reading, preprocessing and the network). Not part of the tests:
//
//	source scripts/env.sh
//	go test ./bench/predict-stream -run '^$' -bench . -benchtime 1x
//	XRAY_BENCH_DATA=$PWD/../shared/data/kermany-224/train XRAY_BENCH_N=640 XRAY_BENCH_SIZE=128 XRAY_BENCH_BEAM=0 \
//	  go test ./bench/predict-stream -run '^$' -bench . -benchtime 3x
//
// XRAY_BENCH_DATA is a folder searched for *.jpeg two levels down (default
// testdata/chest_xray/*/*, 161 images), XRAY_BENCH_N caps the files (default all),
// XRAY_BENCH_MODEL a SavedModel (default an untrained MobileNet exported at
// XRAY_BENCH_SIZE px, default 224), XRAY_BENCH_BEAM=0 leaves out the two Beam runs. With
// -benchtime Nx each side runs N times, alternating; the ratio is of the best times.
package predictstream

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/internal/pyref"
)

func benchModel(b *testing.B) string {
	b.Helper()
	if dir := os.Getenv("XRAY_BENCH_MODEL"); dir != "" {
		return dir
	}
	size := 224
	if s := os.Getenv("XRAY_BENCH_SIZE"); s != "" {
		var err error
		if size, err = strconv.Atoi(s); err != nil {
			b.Fatalf("XRAY_BENCH_SIZE=%q: %v", s, err)
		}
	}
	return benchutil.UntrainedModel(b, size)
}

// benchFiles writes the list of files and returns it with their count and a directory
// of links to them (the Beam pipeline's glob).
func benchFiles(b *testing.B) (list, dir string, n int) {
	b.Helper()
	root := os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "*")
	}
	files, _ := filepath.Glob(filepath.Join(root, "*", "*.jpeg"))
	if s := os.Getenv("XRAY_BENCH_N"); s != "" {
		k, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("XRAY_BENCH_N=%q: %v", s, err)
		}
		files = files[:min(k, len(files))]
	}
	if len(files) == 0 {
		b.Fatalf("no *.jpeg under %s/*", root)
	}
	tmp := b.TempDir()
	dir = filepath.Join(tmp, "links")
	os.Mkdir(dir, 0o755)
	for i, f := range files {
		abs, _ := filepath.Abs(f)
		files[i] = filepath.Join(dir, fmt.Sprintf("%06d.jpeg", i))
		if err := os.Symlink(abs, files[i]); err != nil {
			b.Fatal(err)
		}
	}
	list = filepath.Join(tmp, "list.txt")
	if err := os.WriteFile(list, []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "one.txt"), []byte(files[0]+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return list, dir, len(files)
}

// timed runs a command to the end and returns its wall-clock seconds.
func timed(b *testing.B, env []string, name string, args ...string) float64 {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return time.Since(start).Seconds()
}

func BenchmarkPredictStream(b *testing.B) {
	python := pyref.Require(b)
	model := benchModel(b)
	list, dir, n := benchFiles(b)
	bin := filepath.Join(b.TempDir(), "xray")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/xraylab/xray/cmd/xray").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := b.TempDir()
	beam := os.Getenv("XRAY_BENCH_BEAM") != "0"
	best := map[string]float64{} // the fastest run of each side, seconds
	run := func(key string, env []string, name string, args ...string) {
		s := timed(b, env, name, args...)
		if old, ok := best[key]; !ok || s < old {
			best[key] = s
		}
	}
	for i := 0; i < b.N; i++ {
		out := func(name string) string { os.RemoveAll(filepath.Join(tmp, name)); return filepath.Join(tmp, name) }
		run("xray", nil, bin, "predict", "--savedmodel", model, "--input", list, "--out", out("x.jsonl"))
		run("python", nil, python, pyref.Script("predict_stream_ref.py"), model, list, out("p.jsonl"), "32")
		one := filepath.Join(filepath.Dir(list), "one.txt")
		run("xray1", nil, bin, "predict", "--savedmodel", model, "--input", one, "--out", out("x1.jsonl"))
		run("python1", nil, python, pyref.Script("predict_stream_ref.py"), model, one, out("p1.jsonl"), "32")
		if beam {
			run("beam1", []string{"GOMAXPROCS=1"}, bin, "batch", "--savedmodel", model, "--input", filepath.Join(dir, "*.jpeg"), "--output", out("b1"))
			run("beam2", []string{"GOMAXPROCS=2"}, bin, "batch", "--savedmodel", model, "--input", filepath.Join(dir, "*.jpeg"), "--output", out("b2"))
		}
	}
	r := func(s float64) float64 { return float64(n) / s }
	xray, py := best["xray"], best["python"]
	fmt.Printf("%d files, whole processes, best of %d: xray predict --input %.1f img/s (%.2f s), Python %.1f img/s (%.2f s): xray/Python %.2fx; load %s\n",
		n, b.N, r(xray), xray, r(py), py, py/xray, benchutil.Load())
	b.ReportMetric(r(xray), "xray-img/s")
	b.ReportMetric(r(py), "python-img/s")
	b.ReportMetric(py/xray, "x-python")
	if n > 1 {
		xs, ps := xray-best["xray1"], py-best["python1"]
		fmt.Printf("after start-up (time for %d files minus time for 1, best of %d each): xray %.1f img/s (%.2f s), Python %.1f img/s (%.2f s): xray/Python %.2fx\n",
			n, b.N, float64(n-1)/xs, xs, float64(n-1)/ps, ps, ps/xs)
		b.ReportMetric(ps/xs, "x-python-after-startup")
	}
	if beam {
		beam1, beam2 := best["beam1"], best["beam2"]
		fmt.Printf("xray batch on Prism GOMAXPROCS=1 %.1f img/s, GOMAXPROCS=2 %.1f img/s (2 vs 1: %.2fx; Beam on Prism / streaming predict: %.2fx)\n",
			r(beam1), r(beam2), beam1/beam2, xray/beam2)
		b.ReportMetric(r(beam2), "beam-img/s")
	}
}
