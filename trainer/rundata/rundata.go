package rundata

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/progress"
)

// Split streams one subset of the manifest in batches.
type Split struct{ loader *loader.Loader }

// Len is the number of images in the subset.
func (s *Split) Len() int {
	if s == nil || s.loader == nil {
		return 0
	}
	return s.loader.Len()
}

// diskCache describes the subset's on-disk image cache (zero without one).
func (s *Split) diskCache() loader.DiskCacheStats {
	if s == nil || s.loader == nil {
		return loader.DiskCacheStats{}
	}
	return s.loader.DiskCacheStats()
}

// Batches is the number of batches (updates) per epoch.
func (s *Split) Batches() int { return s.loader.Batches() }

// Epoch calls fn with each batch of the epoch, in the loader's order for that epoch.
func (s *Split) Epoch(ctx context.Context, epoch int, fn func(loader.Batch) error) error {
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

// Data is the run's data: the fit and validation subsets of one manifest.
type Data struct {
	Train, Val   *Split
	Manifest     string     // path of the manifest the run reads
	ManifestHash string     // sha256 of its bytes, recorded in run.json and checkpoints
	Classes      labels.Set // the manifest's vocabulary: the model's outputs
	ClassCounts  []int      // training images per class id, for balanced class weights
}

// Close releases the loaders' disk caches.
func (d *Data) Close() {
	for _, s := range []*Split{d.Train, d.Val} {
		if s != nil && s.loader != nil {
			s.loader.Close()
		}
	}
}

// Config says where a run's data is and how to load it (trainer.Config's data settings).
type Config struct {
	Data     string               // data root; with a manifest, where its paths are relative to
	Manifest string               // the split manifest; empty: Out/manifest.csv, split from Data when missing
	Out      string               // the run directory
	Classes  string               // class names (labels.ParseSet); empty: the default pair, or the manifest's
	Split    dataset.SplitOptions // how to split Data when there is no manifest
	Loader   loader.Config        // batches of both subsets (Augment is applied to training batches only)
	Quiet    bool                 // no split table
	Progress progress.Func        // the split's progress; nil: none
	Logger   *slog.Logger         // the split's lines and table and the image caches, as Info records (one a line); nil: none
}

// Open finds or makes the manifest and opens loaders on its train and val subsets.
// Without a manifest the run splits Data (cfg.Split) and keeps the manifest in
// Out/manifest.csv, where evaluation and --resume find it again. An unparsable or
// mismatched Classes is a *ClassesError.
func Open(ctx context.Context, cfg Config) (*Data, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := cfg.Manifest
	if path == "" {
		path = filepath.Join(cfg.Out, "manifest.csv")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := makeManifest(cfg, path, log); err != nil {
				return nil, err
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
		return nil, &ClassesError{Value: cfg.Classes, Reason: fmt.Sprintf("the manifest %s holds the classes %s: train with those or split again", path, classes)}
	}
	root := m.Root
	if cfg.Manifest != "" && cfg.Data != "" {
		root = cfg.Data
	}
	lc := cfg.Loader
	lc.Classes = classes.Len()
	augment := lc.Augment
	lc.Augment = loader.Augment{}
	trainEntries := m.Subset(dataset.Train)
	if len(trainEntries) == 0 {
		return nil, fmt.Errorf("manifest %s has no training images: split a folder with images of both classes", path)
	}
	tc := lc
	tc.Augment = augment // training batches only
	tl, err := loader.New(root, trainEntries, tc)
	if err != nil {
		return nil, err
	}
	d := &Data{Train: &Split{tl}, Manifest: path, Classes: classes, ClassCounts: make([]int, classes.Len())}
	for _, e := range trainEntries {
		d.ClassCounts[e.Label]++ // the loader checked the range
	}
	if val := m.Subset(dataset.Val); len(val) > 0 {
		vc := lc
		vc.Shuffle = false
		vl, err := loader.New(root, val, vc)
		if err != nil {
			tl.Close()
			return nil, err
		}
		d.Val = &Split{vl}
	}
	sum := sha256.Sum256(raw)
	d.ManifestHash = hex.EncodeToString(sum[:])
	for _, s := range []*Split{d.Train, d.Val} {
		if st := s.diskCache(); st.Path != "" {
			log.Info(fmt.Sprintf("image cache %s", st))
		}
	}
	return d, nil
}

// makeManifest makes the manifest at path from cfg.Data and logs the split and, unless
// cfg.Quiet, its table, a record a line.
func makeManifest(cfg Config, path string, log *slog.Logger) error {
	classes, err := labels.ParseSet(cfg.Classes)
	if err != nil {
		return &ClassesError{Value: cfg.Classes, Reason: err.Error()}
	}
	opts := cfg.Split
	rep, err := dataset.MakeManifest(dataset.ManifestConfig{Data: cfg.Data, Out: path, Split: opts, Classes: classes, Logger: log, Progress: cfg.Progress})
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("split %s (%s scheme, seed %d) into %s:", cfg.Data, opts.Scheme, opts.Seed, path))
	if !cfg.Quiet {
		var table strings.Builder
		rep.WriteTable(&table)
		for line := range strings.Lines(table.String()) {
			log.Info(strings.TrimSuffix(line, "\n"))
		}
	}
	return nil
}

// ClassesError is a Config.Classes that does not parse or does not match the manifest's.
type ClassesError struct {
	Value  string // the setting
	Reason string // why, and what to do
}

func (e *ClassesError) Error() string { return fmt.Sprintf("classes %q: %s", e.Value, e.Reason) }
