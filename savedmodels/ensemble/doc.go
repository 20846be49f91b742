// Package ensemble writes one SavedModel that averages several xray SavedModels
// (docs/ensemble.md): its serving_default, serving_bytes and serving_gradcam return the
// weighted mean of the members' probabilities and Grad-CAM heatmaps, each member keeping
// its own input size and preprocessing, optionally averaging test-time augmentation
// views (TTAViews). The result is an ordinary xray SavedModel: savedmodels.Load,
// Python and TensorFlow Serving load it, and its metadata (Arch, Members) lists the
// members with their digests and normalized weights.
//
//	err := ensemble.Write(ctx, "models/ensemble/1", []string{a, b, c}, ensemble.Options{TTA: 5})
//
// Write builds the ensemble in a temporary directory renamed into place (an existing
// directory is replaced only by a complete ensemble); Options.Threshold may choose the
// operating threshold on that directory first. Bad settings are *tfgraph.ConfigError
// (Field Members, Weights or TTA); an unreadable member is a *savedmodels.LoadError.
// Nothing is printed; the TensorFlow session it runs spends TensorFlow's start-up lines
// as savedmodels.Load does.
//
// It builds on package savedmodels (Metadata, ReadMetaGraph, Digest) and shares the
// SavedModel plumbing of savedmodels/internal/smgraph; savedmodels knows nothing of it.
package ensemble
