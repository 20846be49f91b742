package trainer

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/trainer/rundata"
)

// TestAugmentTrainingOnly: with augmentation on, training batches are the augmented
// pixels and validation batches are exactly the preprocessed files.
func TestAugmentTrainingOnly(t *testing.T) {
	imgs := sampleImages(t)
	dir := t.TempDir()
	entries := append(interleave(imgs, 0, 8, dataset.Train), interleave(imgs, 4, 6, dataset.Val)...)
	cfg := testConfig("mobilenet", 32, writeManifest(t, filepath.Join(dir, "m.csv"), sampleRoot(), entries), dir)
	cfg.BatchSize, cfg.Augment = 4, loader.DefaultAugment()
	d, err := openData(context.Background(), cfg, newLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	pre := preprocess.Preprocessor{Size: 32, Scaling: preprocess.Unit}
	check := func(s *rundata.Split, augmented bool) {
		n := 0
		err := s.Epoch(context.Background(), 1, func(b loader.Batch) error {
			for i, p := range b.Paths {
				want, err := pre.File(filepath.Join(sampleRoot(), p))
				if err != nil {
					return err
				}
				if same := slices.Equal(b.Images[i*pre.Len():(i+1)*pre.Len()], want); same == augmented {
					t.Errorf("%s: augmented %v, want %v", p, !same, augmented)
				}
				n++
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Fatalf("epoch: %v (%d images)", err, n)
		}
	}
	check(d.Train, true)
	check(d.Val, false)
}
