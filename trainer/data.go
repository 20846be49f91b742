package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
)

// batch is one step's input, as the dataset loader yields it.
type batch = dataset.Batch

// splitData streams one subset of the manifest in batches.
type splitData struct{ loader *dataset.Loader }

// Len is the number of images in the subset.
func (s *splitData) Len() int {
	if s == nil || s.loader == nil {
		return 0
	}
	return s.loader.Len()
}

// diskCache describes the subset's on-disk image cache (zero without one).
func (s *splitData) diskCache() dataset.DiskCacheStats {
	if s == nil || s.loader == nil {
		return dataset.DiskCacheStats{}
	}
	return s.loader.DiskCacheStats()
}

// Batches is the number of batches (updates) per epoch.
func (s *splitData) Batches() int { return s.loader.Batches() }

// Epoch calls fn with each batch of the epoch, in the loader's order for that epoch.
func (s *splitData) Epoch(ctx context.Context, epoch int, fn func(batch) error) error {
	for b, err := range s.loader.Epoch(ctx, epoch) {
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// trainData is the run's data: the fit and validation subsets of one manifest.
type trainData struct {
	Train, Val   *splitData
	Manifest     string     // path of the manifest the run reads
	ManifestHash string     // sha256 of its bytes, recorded in run.json and checkpoints
	Classes      labels.Set // the manifest's vocabulary: the model's outputs
	ClassCounts  []int      // training images per class id, for balanced class weights
}

// Close releases the loaders' disk caches.
func (d *trainData) Close() {
	for _, s := range []*splitData{d.Train, d.Val} {
		if s != nil && s.loader != nil {
			s.loader.Close()
		}
	}
}

// openData finds or makes the manifest and opens loaders on its train and val subsets.
// Without a manifest the run splits Data with Seed (Scheme, default the paper's) and keeps the
// manifest in OUT/manifest.csv, where evaluation and --resume find it again.
func openData(ctx context.Context, cfg Config, log logger) (*trainData, error) {
	path := cfg.Manifest
	if path == "" {
		path = filepath.Join(cfg.Out, "manifest.csv")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			classes, err := labels.ParseSet(cfg.Classes)
			if err != nil {
				return nil, &ConfigError{Field: "Classes", Value: cfg.Classes, Reason: err.Error()}
			}
			opts := dataset.DefaultSplitOptions()
			opts.Seed, opts.ValFromFolder = cfg.Seed, cfg.ValFromFolder
			if cfg.Scheme != "" {
				opts.Scheme = dataset.Scheme(cfg.Scheme)
			}
			rep, err := dataset.MakeManifest(dataset.ManifestConfig{Data: cfg.Data, Out: path, Split: opts, Classes: classes, Log: log.w, Progress: cfg.Progress})
			if err != nil {
				return nil, err
			}
			log.printf("split %s (%s scheme, seed %d) into %s:", cfg.Data, opts.Scheme, opts.Seed, path)
			if !cfg.Quiet {
				rep.WriteTable(log.w)
			}
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := dataset.ReadManifest(path)
	if err != nil {
		return nil, err
	}
	classes := m.ClassSet()
	if want, err := labels.ParseSet(cfg.Classes); cfg.Classes != "" && (err != nil || !want.Equal(classes)) {
		return nil, &ConfigError{Field: "Classes", Value: cfg.Classes, Reason: fmt.Sprintf("the manifest %s holds the classes %s: train with those or split again", path, classes)}
	}
	root := m.Root
	if cfg.Manifest != "" && cfg.Data != "" {
		root = cfg.Data
	}
	lc := dataset.DefaultLoaderConfig()
	lc.Preprocessor = preprocess.Preprocessor{Size: cfg.InputSize, Scaling: cfg.Preprocess, Window: cfg.DICOMWindow}
	lc.BatchSize, lc.Seed, lc.Shuffle, lc.Classes = cfg.BatchSize, cfg.Seed, cfg.Shuffle, classes.Len()
	lc.Workers = devices.PlanThreads(cfg.Threads).Loader
	lc.CacheDir, lc.CacheBytes = cfg.CacheDir, cfg.CacheMemory
	if !cfg.CacheImages && cfg.CacheDir == "" {
		lc.CacheBytes = -1
	}
	trainEntries := m.Subset(dataset.Train)
	if len(trainEntries) == 0 {
		return nil, fmt.Errorf("manifest %s has no training images: split a folder with images of both classes", path)
	}
	tc := lc
	tc.Augment = cfg.Augment // training batches only
	tl, err := dataset.NewLoader(root, trainEntries, tc)
	if err != nil {
		return nil, err
	}
	d := &trainData{Train: &splitData{tl}, Manifest: path, Classes: classes, ClassCounts: make([]int, classes.Len())}
	for _, e := range trainEntries {
		d.ClassCounts[e.Label]++ // the loader checked the range
	}
	if val := m.Subset(dataset.Val); len(val) > 0 {
		vc := lc
		vc.Shuffle = false
		vl, err := dataset.NewLoader(root, val, vc)
		if err != nil {
			tl.Close()
			return nil, err
		}
		d.Val = &splitData{vl}
	}
	sum := sha256.Sum256(raw)
	d.ManifestHash = hex.EncodeToString(sum[:])
	for _, s := range []*splitData{d.Train, d.Val} {
		if st := s.diskCache(); st.Path != "" {
			log.printf("image cache %s", st)
		}
	}
	return d, nil
}
