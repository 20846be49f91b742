// Package rss benchmarks the peak memory of a whole training run: `xray train` against a
// Keras model.fit fed by the tf.data pipeline a Keras user writes (decode + resize +
// .cache(), scripts/ref/trainer_rss.py), on the same images, each a child process whose
// peak resident set (ru_maxrss, its VmHWM) is printed side by side with the ratio (< 1:
// xray needs less). Not part of the tests:
//
//	source scripts/env.sh
//	go test ./bench/rss -run '^$' -bench . -benchtime 1x
//	XRAY_BENCH_N=500 go test ./bench/rss -run '^$' -bench . -benchtime 1x   # reduced scale
//
// The images are ../shared/data/kermany-224/train (5,216 X-rays; XRAY_BENCH_DATA for
// another Kermany tree), padded to XRAY_BENCH_N (default 5,856, the whole Kermany set) by
// links to the first ones under new names, each then decoded and cached as a file of its
// own. MobileNet at XRAY_BENCH_SIZE px (default 256), batch 20, weights none, one epoch
// (XRAY_BENCH_EPOCHS): every image is read once, so both caches fill (xray's resized uint8
// pixels, tf.data's resized float32 images). The run is bounded in compute, not in images:
// the head alone trains (--freeze-base on both sides, the backbone forward only) unless
// XRAY_BENCH_FREEZE=0. XRAY_BENCH_XRAY_FLAGS adds flags to xray train (for example
// "--cache-dir /tmp/xc --cache-memory 256MiB": the disk cache in place of the in-memory
// one). With -benchtime Nx each side runs N times, alternating; the peaks printed are the
// lowest of each side.
package rss

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
)

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive whole number", name, s)
	}
	return n
}

// images lays out n training images under a fresh root (a link to the data, plus links
// for the padding) and writes xray's manifest and the Keras side's list.
func images(b *testing.B, n int) (manifest, list string) {
	data := os.Getenv("XRAY_BENCH_DATA")
	if data == "" {
		data = pyref.SharedData(b, "kermany-224/train")
	}
	var files []string // relative to data
	for _, class := range []string{"NORMAL", "PNEUMONIA"} {
		m, _ := filepath.Glob(filepath.Join(data, class, "*.jpeg"))
		for _, f := range m {
			files = append(files, filepath.Join(class, filepath.Base(f)))
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		b.Fatalf("no NORMAL/*.jpeg or PNEUMONIA/*.jpeg under %s", data)
	}
	root := b.TempDir()
	abs, _ := filepath.Abs(data)
	if err := os.Symlink(abs, filepath.Join(root, "data")); err != nil {
		b.Fatal(err)
	}
	var entries []dataset.Entry
	var sb strings.Builder
	for i := range n {
		f := files[i%len(files)]
		rel := filepath.Join("data", f)
		if i >= len(files) { // padding: the same pixels under a name of its own
			rel = filepath.Join("pad", strconv.Itoa(i/len(files)), f)
			os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
			if err := os.Symlink(filepath.Join(abs, f), filepath.Join(root, rel)); err != nil {
				b.Fatal(err)
			}
		}
		l, err := labels.Default().Parse(filepath.Dir(f))
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, dataset.Entry{Path: filepath.ToSlash(rel), Label: l, Split: dataset.Train, Patient: dataset.PatientID(f)})
		fmt.Fprintf(&sb, "%d %s\n", l, filepath.Join(root, rel))
	}
	manifest, list = filepath.Join(root, "manifest.csv"), filepath.Join(root, "list.txt")
	if err := dataset.WriteManifest(manifest, &dataset.Manifest{Root: root, Entries: entries}); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(list, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return manifest, list
}

// baseWeights is a Keras weight file of a MobileNet backbone (random weights, the ImageNet
// files' layout), which --freeze-base needs; the Keras side's frozen base keeps its random
// initialisation: the same variables, so the same memory.
func baseWeights(b *testing.B) string {
	return filepath.Join(pyref.KerasWeights(b, "mobilenet", 128), "k2_base.h5")
}

type side struct {
	peak int64 // lowest peak RSS over the runs, bytes
	wall time.Duration
}

func (s *side) add(wall time.Duration, peak int64) {
	if s.peak == 0 || peak < s.peak {
		s.peak, s.wall = peak, wall
	}
}

func BenchmarkPeakRSS(b *testing.B) {
	python := pyref.Require(b)
	n, size, epochs := envInt(b, "XRAY_BENCH_N", 5856), envInt(b, "XRAY_BENCH_SIZE", 256), envInt(b, "XRAY_BENCH_EPOCHS", 1)
	freeze := os.Getenv("XRAY_BENCH_FREEZE") != "0"
	manifest, list := images(b, n)
	bin := filepath.Join(b.TempDir(), "xray")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/xraylab/xray/cmd/xray").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	common := []string{"--arch", "mobilenet", "--batch-size", "20", "--epochs", strconv.Itoa(epochs)}
	xargs := append([]string{"train", "--manifest", manifest, "--input-size", strconv.Itoa(size), "--quiet"}, common...)
	kargs := []string{pyref.Script("trainer_rss.py"), "--arch", "mobilenet", "--batch", "20", "--epochs", strconv.Itoa(epochs), "--size", strconv.Itoa(size), "--list", list}
	if freeze {
		xargs = append(xargs, "--freeze-base", "--weights", baseWeights(b))
		kargs = append(kargs, "--freeze-base")
	} else {
		xargs = append(xargs, "--weights", "none")
	}
	extra := strings.Fields(os.Getenv("XRAY_BENCH_XRAY_FLAGS"))
	xargs = append(xargs, extra...)
	var xray, keras side
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "run")
		wall, peak, err := benchutil.RunChild(exec.Command(bin, append(xargs, "--out", out)...))
		if err != nil {
			b.Fatal(err)
		}
		xray.add(wall, peak)
		cmd := exec.Command(python, kargs...)
		cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=")
		var stdout strings.Builder
		cmd.Stdout = &stdout
		wall, peak, err = benchutil.RunChild(cmd)
		if err != nil {
			b.Fatal(err)
		}
		var k struct{ Images int }
		if err := json.Unmarshal([]byte(stdout.String()), &k); err != nil || k.Images != n {
			b.Fatalf("trainer_rss.py printed %q (%v): want %d images", stdout.String(), err, n)
		}
		keras.add(wall, peak)
	}
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	fmt.Printf("%d images at %d px, MobileNet, batch 20, %d epoch(s), freeze-base %v, best of %d: peak RSS xray train%s %.0f MiB (%.0f s), Keras model.fit + tf.data .cache() %.0f MiB (%.0f s): xray/Keras %.2f; load %s\n",
		n, size, epochs, freeze, b.N, strings.Join(append([]string{""}, extra...), " "), mib(xray.peak), xray.wall.Seconds(), mib(keras.peak), keras.wall.Seconds(), float64(xray.peak)/float64(keras.peak), benchutil.Load())
	b.ReportMetric(mib(xray.peak), "xray-MiB")
	b.ReportMetric(mib(keras.peak), "keras-MiB")
	b.ReportMetric(float64(xray.peak)/float64(keras.peak), "x-keras")
}
