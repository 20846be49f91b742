// Package shift is the shift report: a split evaluated as it is (the clean baseline) and
// under each perturbation of package perturb, a stand-in for the same patients seen by
// another scanner (docs/shift.md). Each image is read once (sha256 checked against the
// manifest, as predict.Split does), decoded by the model's own decoder (preprocess: EXIF
// orientation, the model's DICOM window), perturbed at the file's own size with the
// noise seeded by its manifest path, then preprocessed and predicted as Predict does for
// a decoded image; every variant is scored by evaluator.Evaluate, so the clean row
// equals xray evaluate's. With Input.Adapt each row also scores the model adapted
// (adapt.Images) to that variant on another split's images.
//
// Run returns the Report; Write writes shift.md, shift.csv, shift.json and shift.png.
// Nothing is printed: progress goes to the Input's progress.Func. Errors are
// predict.Split's, perturb's, and with Adapt adapt.Images's and a
// *tfgraph.ConfigError (Field FieldAdaptSplit, FieldAdaptImages or "Mode") for a bad
// Adapt, before any work.
//
//	rep, err := shift.Run(ctx, shift.Input{Input: predict.Input{SavedModel: sm, Split: "test"}})
//	err = shift.Write("runs/m/shift-test", rep)
package shift
