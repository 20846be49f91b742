// Package augment measures what --augment costs a cached training epoch (the bound:
// at most 15 % slower). Not part of the tests (benchmarks only run with -bench):
//
//	source scripts/env.sh
//	go test ./bench/augment -run '^$' -bench Loader -benchtime 5x   # loader alone, seconds
//	go test ./bench/augment -run '^$' -bench Train -benchtime 1x    # xray train epochs, minutes
//
// BenchmarkLoaderEpoch times a loader epoch over cached images (no decoding) with the
// augmentation off and on: the augmentation's own cost, which the trainer overlaps with
// the TensorFlow step (the loader prepares Prefetch batches ahead on its own goroutines).
// BenchmarkTrainEpoch trains MobileNet from random weights at 128 px on 160 images of
// testdata/chest_xray, batch 16, with and without --augment, alternating, and reports the
// median epoch after the first (the first decodes) of each and their ratio, x-slower.
package augment

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/trainer"
)

const size = 128

func sample(b *testing.B) *dataset.Ingested {
	in, err := dataset.Ingest(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray"), dataset.IngestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return in
}

func BenchmarkLoaderEpoch(b *testing.B) {
	in := sample(b)
	for _, c := range []struct {
		name string
		aug  loader.Augment
	}{{"off", loader.Augment{}}, {"on", loader.DefaultAugment()}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := loader.DefaultConfig()
			cfg.Size, cfg.BatchSize, cfg.Augment = size, 16, c.aug
			l, err := loader.New(in.Root, in.Entries, cfg)
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
			epoch(0) // fills the cache
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				epoch(i + 1)
			}
			b.ReportMetric(float64(b.N*l.Len())/b.Elapsed().Seconds(), "img/s")
		})
	}
}

func BenchmarkTrainEpoch(b *testing.B) {
	in := sample(b)
	dir := b.TempDir()
	manifest := filepath.Join(dir, "manifest.csv")
	entries := slices.Clone(in.Entries)
	for i := range entries {
		entries[i].Split = dataset.Train
	}
	if err := dataset.WriteManifest(manifest, &dataset.Manifest{Root: in.Root, Entries: entries[:160]}); err != nil {
		b.Fatal(err)
	}
	run := func(aug loader.Augment) []float64 {
		cfg := trainer.DefaultConfig()
		cfg.Manifest, cfg.Weights, cfg.InputSize, cfg.BatchSize, cfg.Epochs, cfg.Quiet = manifest, "none", size, 16, 4, true
		cfg.Augment, cfg.Out = aug, filepath.Join(b.TempDir(), "run")
		res, err := trainer.Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		var s []float64
		for _, e := range res.History[1:] {
			s = append(s, e.Seconds)
		}
		return s
	}
	var off, on []float64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		off = append(off, run(loader.Augment{})...)
		on = append(on, run(loader.DefaultAugment())...)
	}
	mOff, mOn := median(off), median(on)
	b.ReportMetric(mOff, "s/epoch-off")
	b.ReportMetric(mOn, "s/epoch-on")
	b.ReportMetric(mOn/mOff, "x-slower")
	b.Logf("cached epochs of 160 images, off: %v s; on: %v s; median ratio %.3f (%v in all)", off, on, mOn/mOff, time.Since(start).Round(time.Second))
}

func median(s []float64) float64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s[len(s)/2]
}
