// Package rundata opens a training run's data: the split manifest (made from a data
// folder when the run has none, and kept in the run directory for evaluation and
// --resume) and dataset loaders over its training and validation subsets.
//
// # Contract
//
// Open returns the two subsets, the manifest's path, SHA-256 (checkpoints and run.json
// record it, so a resume on other data is refused) and class vocabulary, and the
// training images per class. Augmentation applies to training batches only. Errors:
// *ClassesError for a Classes setting that does not parse or match the manifest, and
// the dataset package's (dataset.ErrClasses, unreadable images). Its lines (the split and
// its table, the image caches; skipped files as Warn) go to Config.Logger as records, one
// a line (nil: none); nothing is printed.
//
// # Usage
//
//	d, err := rundata.Open(ctx, rundata.Config{Data: "../shared/data/kermany-224", Out: out,
//		Split: dataset.DefaultSplitOptions(), Loader: loader.DefaultConfig()})
//	defer d.Close()
//	err = d.Train.Epoch(ctx, 1, func(b loader.Batch) error { ... })
package rundata
