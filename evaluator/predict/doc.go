// Package predict runs a SavedModel over a split: Split loads the model (package
// savedmodels), reads one subset of a split manifest (or every image of a folder,
// AllImages), checks each file against the manifest's sha256, and returns one
// evaluator.Record per image with the model's metadata (architecture, operating
// threshold). Package evaluator turns the records into metrics and files; the shift
// report (evaluator/shift) and the errors page (evaluator/errorspage) name their images
// with the same Input.
//
// It prints nothing: long work reports through Input.Progress, skipped files as Warn
// records to Input.Logger (both nil: none). An unreadable or changed image fails the run
// (dataset.ErrChanged), as does a missing manifest (ErrNoManifest) and, with
// RequireThreshold, a model without an operating threshold (evaluator.ErrNoThreshold).
//
//	recs, meta, err := predict.Split(ctx, predict.Input{SavedModel: "runs/m/savedmodel", Split: "test"})
//	rep, err := evaluator.Run(evaluator.Config{Records: recs, Out: "runs/m/eval-test",
//		Options: evaluator.Options{Model: meta.Arch, Split: "test", Threshold: meta.Threshold}})
package predict
