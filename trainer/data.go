package trainer

import (
	"context"
	"errors"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/trainer/rundata"
)

// openData opens the run's data (trainer/rundata) as cfg says: the manifest, made by
// splitting Data with Seed (Scheme, default the paper's) when missing, and loaders of
// its train and val subsets.
func openData(ctx context.Context, cfg Config, log logger) (*rundata.Data, error) {
	split := dataset.DefaultSplitOptions()
	split.Seed, split.ValFromFolder = cfg.Seed, cfg.ValFromFolder
	if cfg.Scheme != "" {
		split.Scheme = dataset.Scheme(cfg.Scheme)
	}
	lc := loader.DefaultConfig()
	lc.Preprocessor = preprocess.Preprocessor{Size: cfg.InputSize, Scaling: cfg.Preprocess, Window: cfg.DICOMWindow}
	lc.BatchSize, lc.Seed, lc.Shuffle = cfg.BatchSize, cfg.Seed, cfg.Shuffle
	lc.Workers = devices.PlanThreads(cfg.Threads).Loader
	lc.CacheDir, lc.CacheBytes = cfg.CacheDir, cfg.CacheMemory
	if !cfg.CacheImages && cfg.CacheDir == "" {
		lc.CacheBytes = -1
	}
	lc.Augment = cfg.Augment // training batches only
	d, err := rundata.Open(ctx, rundata.Config{Data: cfg.Data, Manifest: cfg.Manifest, Out: cfg.Out, Classes: cfg.Classes,
		Split: split, Loader: lc, Quiet: cfg.Quiet, Progress: cfg.Progress, Logger: log.l})
	if ce := (*rundata.ClassesError)(nil); errors.As(err, &ce) {
		return nil, &ConfigError{Field: "Classes", Value: ce.Value, Reason: ce.Reason}
	}
	return d, err
}
