// Package train benchmarks xray train's training loop against Keras's model.fit on the
// same model, batch size, input size, precision and machine:
//
//	source scripts/env.sh && go test -run '^$' -bench . -benchtime 1x ./bench/train/
//
// Each case trains the paper's model from scratch (weights none) for XRAY_BENCH_EPOCHS
// (default 3) epochs of the same 100 X-rays from testdata/chest_xray (one manifest; the
// Keras side reads the same files) in batches of 20 (SGD, lr 0.001) and reports the images
// per second of the fastest epoch after the first (the first decodes images and traces
// graphs; other load on the machine only ever slows an epoch down), best of
// XRAY_BENCH_ROUNDS (default 2) alternating runs of each side:
// img/s for xray (trainer.Run: loader, feeds, session step), keras-img/s for model.fit
// on in-memory arrays (scripts/ref/trainer_bench.py), and their ratio, x-keras (> 1:
// xray is faster). A table of all cases is printed at the end.
//
// XRAY_BENCH_CASES=arch:size[:precision],... picks the cases (default: MobileNet at 128,
// 224 and 256 px, Xception at 160 and 192 px, InceptionV3 at 176 and 192 px (below 171 its
// feature map is smaller than the head's 4x4 pooling, in Keras too), all float32, and
// MobileNet at 256 px in mixed_bfloat16 beside Keras's mixed_bfloat16 policy; the big
// backbones stay small on a two-core machine).
// Plain `go test` runs none of this.
package train

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/trainer"
)

const (
	images    = 100
	batchSize = 20
)

const defaultCases = "mobilenet:128,mobilenet:224,mobilenet:256,xception:160,xception:192," +
	"inceptionv3:176,inceptionv3:192,mobilenet:256:mixed_bfloat16"

type benchCase struct {
	arch      string
	size      int
	precision string // Keras's policy name: float32, mixed_bfloat16, mixed_float16
}

func (c benchCase) String() string { return fmt.Sprintf("%s-%d-%s", c.arch, c.size, c.precision) }

func cases(b *testing.B) []benchCase {
	spec := os.Getenv("XRAY_BENCH_CASES")
	if spec == "" {
		spec = defaultCases
	}
	var cs []benchCase
	for _, c := range strings.Split(spec, ",") {
		f := strings.Split(strings.TrimSpace(c), ":")
		if len(f) == 2 {
			f = append(f, "float32")
		}
		n, err := strconv.Atoi(f[min(1, len(f)-1)])
		if len(f) != 3 || err != nil {
			b.Fatalf("XRAY_BENCH_CASES: %q is not arch:size or arch:size:precision", c)
		}
		cs = append(cs, benchCase{f[0], n, f[2]})
	}
	return cs
}

// epochs is XRAY_BENCH_EPOCHS (default 3, at least 2: the first is not timed).
func epochs() int {
	if n, err := strconv.Atoi(os.Getenv("XRAY_BENCH_EPOCHS")); err == nil && n >= 2 {
		return n
	}
	return 3
}

// sample lists the benchmark's images (half normal, half pneumonia) as manifest entries
// of the training split, relative to the sample root.
func sample(b *testing.B) (string, []dataset.Entry) {
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
	return root, entries
}

func BenchmarkTrainThroughput(b *testing.B) {
	root, entries := sample(b)
	dir := b.TempDir()
	manifest := filepath.Join(dir, "manifest.csv")
	if err := dataset.WriteManifest(manifest, &dataset.Manifest{Root: root, Entries: entries}); err != nil {
		b.Fatal(err)
	}
	list := filepath.Join(dir, "images.txt")
	var sb strings.Builder
	for _, e := range entries {
		sb.WriteString(filepath.Join(root, filepath.FromSlash(e.Path)) + "\n")
	}
	if err := os.WriteFile(list, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}

	var table []string
	for _, c := range cases(b) {
		b.Run(c.String(), func(b *testing.B) {
			var ours, theirs float64
			var oursEpochs, theirsEpochs []float64 // seconds of every epoch after the first
			var log []string
			for i := 0; i < b.N; i++ {
				// Alternate xray and Keras so that load from elsewhere hits both alike.
				for r := 0; r < rounds(); r++ {
					h, err := trainOnce(b, c, manifest)
					xlog := "n/a (" + fmt.Sprint(err) + ")"
					if err == nil {
						ours = max(ours, throughput(h[1:]))
						for _, e := range h[1:] {
							oursEpochs = append(oursEpochs, e.Seconds)
						}
						xlog = seconds(h) + " s"
					}
					k := kerasOnce(b, c, list)
					theirs = max(theirs, k.ImagesPerS)
					if len(k.EpochSeconds) > 1 {
						theirsEpochs = append(theirsEpochs, k.EpochSeconds[1:]...)
					}
					log = append(log, fmt.Sprintf("round %d: xray epochs %s, Keras epochs %s s (jit %v)", r+1, xlog, fmtSeconds(k.EpochSeconds), k.JIT))
				}
			}
			medTheirs := float64(images) / median(theirsEpochs)
			b.ReportMetric(theirs, "keras-img/s")
			row := fmt.Sprintf("| %s | %d | %s | n/a | %.2f | n/a | n/a |", c.arch, c.size, c.precision, theirs)
			if ours > 0 {
				medOurs := float64(images) / median(oursEpochs)
				b.ReportMetric(ours, "img/s")
				b.ReportMetric(ours/theirs, "x-keras")
				// The median epoch is the steadier comparison when one side has outlier epochs.
				b.ReportMetric(medOurs/medTheirs, "x-keras-median")
				row = fmt.Sprintf("| %s | %d | %s | %.2f | %.2f | %.2f | %.2f |", c.arch, c.size, c.precision, ours, theirs, ours/theirs, medOurs/medTheirs)
			}
			table = append(table, row)
			b.Logf("%s at %d, %s, batch %d, %d images:\n%s", c.arch, c.size, c.precision, batchSize, images, strings.Join(log, "\n"))
		})
	}
	fmt.Printf("\nfastest epoch after the first, best of %d rounds, %d images, batch %d, %d epochs; load: %s\n", rounds(), images, batchSize, epochs(), benchutil.Load())
	fmt.Println("| model | px | precision | xray img/s | Keras img/s | xray/Keras | median-epoch ratio |\n|---|---|---|---|---|---|---|")
	fmt.Println(strings.Join(table, "\n"))
}

// rounds is XRAY_BENCH_ROUNDS (default 2): how many times each side trains.
func rounds() int {
	if n, err := strconv.Atoi(os.Getenv("XRAY_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 2
}

// trainOnce runs xray's trainer on the case (in its precision) and returns its history.
func trainOnce(b *testing.B, c benchCase, manifest string) ([]trainer.EpochStats, error) {
	cfg := trainer.DefaultConfig()
	cfg.Arch, cfg.InputSize, cfg.Manifest, cfg.Weights = c.arch, c.size, manifest, "none"
	cfg.Epochs, cfg.BatchSize, cfg.Quiet = epochs(), batchSize, true
	cfg.Precision = c.precision // xray train --precision, Keras's policy names
	cfg.Out = filepath.Join(b.TempDir(), "run")
	res, err := trainer.Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return res.History, nil
}

type kerasResult struct {
	EpochSeconds []float64 `json:"epoch_seconds"`
	ImagesPerS   float64   `json:"images_per_s"`
	JIT          bool      `json:"jit_compile"`
}

// kerasOnce runs model.fit on the case (scripts/ref/trainer_bench.py).
func kerasOnce(b *testing.B, c benchCase, list string) kerasResult {
	out := pyref.Run(b, pyref.Script("trainer_bench.py"), "--arch", c.arch, "--size", strconv.Itoa(c.size),
		"--batch", strconv.Itoa(batchSize), "--epochs", strconv.Itoa(epochs()), "--list", list, "--precision", c.precision)
	var k kerasResult
	if err := json.Unmarshal(out, &k); err != nil {
		b.Fatalf("trainer_bench.py: %v: %s", err, out)
	}
	return k
}

// throughput is images per second in the fastest of the given epochs (wall time of the
// training loop: the benchmark's manifest has no validation split).
func throughput(h []trainer.EpochStats) float64 {
	fastest := h[0].Seconds
	for _, e := range h {
		fastest = min(fastest, e.Seconds)
	}
	return images / fastest
}

func seconds(h []trainer.EpochStats) string {
	s := make([]float64, len(h))
	for i, e := range h {
		s[i] = e.Seconds
	}
	return fmtSeconds(s)
}

func fmtSeconds(s []float64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 1 {
		return xs[n/2]
	} else {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
}
