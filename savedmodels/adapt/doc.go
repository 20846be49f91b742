// Package adapt re-estimates the BatchNormalization statistics of an xray SavedModel on a
// new site's unlabeled X-rays (AdaBN) and writes the result as a new SavedModel: the same
// graph, signatures and every other variable, the moving means and variances measured on
// the images, and an Adaptation record in the metadata (docs/adapt.md).
//
//	ad, err := adapt.Run(ctx, "models/pneumonia/1", "models/pneumonia/2", paths, adapt.Options{})
//	var bad *adapt.UnreadableImagesError
//	if errors.As(err, &bad) { ... } // every unreadable file, nothing written
//
// Run reads image files, Images decoded images held in memory. Options.Mode is Layerwise
// (each layer measured after the ones before it are replaced; the default) or Batch (one
// pass in training mode). The output directory must not exist; it appears complete or
// not at all. Errors are typed: the source's *savedmodels.LoadError, ErrNoBatchNorm,
// ErrTooFewImages (fewer than MinImages), *UnreadableImagesError, ErrOutputExists, a
// *tfgraph.ConfigError for a bad option, or the context's. Long work reports through
// Options.Progress (TaskRead, TaskStats) and Options.Log; nothing is printed, and the
// TensorFlow session it runs spends TensorFlow's start-up lines as savedmodels.Load does.
//
// It builds on package savedmodels (its Metadata, ReadMetaGraph, Digest) and shares the
// SavedModel plumbing of savedmodels/internal/smgraph; savedmodels knows nothing of it.
package adapt
