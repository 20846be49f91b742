// Package replicas benchmarks data-parallel training: xray train's images per second on
// one device and on several replicas (Config.Devices), and the scaling efficiency
// (replicated img/s over N times one device's):
//
//	source scripts/env.sh && go test -run '^$' -bench . -benchtime 1x ./bench/replicas/
//
// Each run trains MobileNet from scratch (weights none) at XRAY_BENCH_SIZE (default 128)
// for 3 epochs of 100 X-rays from testdata/chest_xray in batches of 20 and reports the
// fastest epoch after the first (which decodes images and builds the graph). The
// replicas are XRAY_BENCH_DEVICES (default 2: two logical CPU devices with --device cpu;
// on a machine with GPUs, e.g. "GPU:0,GPU:1" with XRAY_BENCH_DEVICE=gpu). On a CPU,
// logical devices share the same cores that one device already keeps busy, so the
// efficiency shows the replication's overhead, not a speed-up. Plain `go test` runs none
// of this.
//
// Beside it, the same with Keras 3 (scripts/ref/trainer_bench.py): model.fit on one device
// and under MirroredStrategy over the same number of logical CPU devices (CPU runs only),
// and the ratio of xray's replicated img/s to Keras's (x-keras-N).
package replicas

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/trainer"
)

const (
	images    = 100
	batchSize = 20
	epochs    = 3
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func BenchmarkReplicas(b *testing.B) {
	manifest := writeSample(b)
	size, err := strconv.Atoi(env("XRAY_BENCH_SIZE", "128"))
	if err != nil {
		b.Fatal(err)
	}
	device, devices := env("XRAY_BENCH_DEVICE", trainer.DeviceCPU), env("XRAY_BENCH_DEVICES", "2")
	n := len(strings.Split(devices, ","))
	if c, err := strconv.Atoi(devices); err == nil {
		n = c
	}
	for i := 0; i < b.N; i++ {
		one := throughput(b, manifest, size, device, "")
		many := throughput(b, manifest, size, device, devices)
		eff := many / (float64(n) * one)
		b.ReportMetric(one, "img/s-1")
		b.ReportMetric(many, "img/s-N")
		b.ReportMetric(eff, "efficiency")
		b.Logf("xray, MobileNet %d px, batch %d, device %s: 1 device %.2f img/s, %d replicas (%s) %.2f img/s: speed-up %.2f, scaling efficiency %.2f",
			size, batchSize, device, one, n, devices, many, many/one, eff)
		if device != trainer.DeviceCPU {
			continue
		}
		kOne, kMany := keras(b, manifest, size, 1), keras(b, manifest, size, n)
		b.ReportMetric(kMany/(float64(n)*kOne), "keras-efficiency")
		b.ReportMetric(many/kMany, "x-keras-N")
		b.Logf("Keras MirroredStrategy: 1 device %.2f img/s, %d logical CPU devices %.2f img/s: speed-up %.2f, scaling efficiency %.2f; xray / Keras with %d replicas: %.2f",
			kOne, n, kMany, kMany/kOne, kMany/(float64(n)*kOne), n, many/kMany)
	}
}

// keras runs model.fit on the benchmark's images with replicas logical CPU devices and
// returns its images per second (the fastest epoch after the first).
func keras(b *testing.B, manifest string, size, replicas int) float64 {
	m, err := dataset.ReadManifest(manifest)
	if err != nil {
		b.Fatal(err)
	}
	var list strings.Builder
	for _, e := range m.Entries {
		list.WriteString(filepath.Join(m.Root, filepath.FromSlash(e.Path)) + "\n")
	}
	path := filepath.Join(b.TempDir(), "images.txt")
	if err := os.WriteFile(path, []byte(list.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	out := pyref.Run(b, pyref.Script("trainer_bench.py"), "--arch", "mobilenet", "--size", strconv.Itoa(size),
		"--batch", strconv.Itoa(batchSize), "--epochs", strconv.Itoa(epochs), "--list", path, "--replicas", strconv.Itoa(replicas))
	var r struct {
		ImagesPerS float64 `json:"images_per_s"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("trainer_bench.py: %v: %s", err, out)
	}
	return r.ImagesPerS
}

// throughput trains once and returns the images per second of the fastest epoch after the first.
func throughput(b *testing.B, manifest string, size int, device, devices string) float64 {
	cfg := trainer.DefaultConfig()
	cfg.Arch, cfg.InputSize, cfg.Manifest, cfg.Weights = "mobilenet", size, manifest, "none"
	cfg.Epochs, cfg.BatchSize, cfg.Quiet, cfg.Device, cfg.Devices = epochs, batchSize, true, device, devices
	cfg.Out = filepath.Join(b.TempDir(), "run")
	res, err := trainer.Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	fastest := res.History[1].Seconds
	for _, e := range res.History[1:] {
		fastest = min(fastest, e.Seconds)
	}
	return images / fastest
}

// writeSample writes a manifest of the benchmark's images (half normal, half pneumonia).
func writeSample(b *testing.B) string {
	root := filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray")
	var byClass [2][]string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jpeg") {
			rel, _ := filepath.Rel(root, p)
			if l, err := labels.Default().Parse(filepath.Base(filepath.Dir(p))); err == nil {
				byClass[l] = append(byClass[l], filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if len(byClass[0]) < images/2 || len(byClass[1]) < images/2 {
		b.Fatalf("testdata/chest_xray has %d + %d images, the benchmark needs %d of each", len(byClass[0]), len(byClass[1]), images/2)
	}
	var entries []dataset.Entry
	for l := range byClass {
		slices.Sort(byClass[l])
		for _, p := range byClass[l][:images/2] {
			entries = append(entries, dataset.Entry{Path: p, Label: l, Split: dataset.Train, Patient: dataset.PatientID(filepath.Base(p))})
		}
	}
	manifest := filepath.Join(b.TempDir(), "manifest.csv")
	if err := dataset.WriteManifest(manifest, &dataset.Manifest{Root: root, Entries: entries}); err != nil {
		b.Fatal(err)
	}
	return manifest
}
