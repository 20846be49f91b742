// Package batchpipe is `xray batch`: an Apache Beam pipeline (Go SDK) that classifies the
// image files matching a pattern with an exported SavedModel, on Beam's Prism runner in
// this process or on Dataflow, Flink or Spark. The model code and preprocessing are
// savedmodels' and the output lines predictstream's, as for `xray predict`.
//
//	summary, err := batchpipe.Run(ctx, batchpipe.Config{
//		SavedModel: "runs/m/savedmodel", Input: "archive/*/*.jpeg", Output: "out/preds",
//	}, "prism")
//
// The pipeline matches the files (Beam's filesystems: local paths, and gs:// or s3://
// where the runner's workers have them), predicts them in batches in a DoFn that loads the
// SavedModel once per DoFn instance (Setup) and closes it in Teardown, and writes
//
//	PREFIX-SSSSS-of-NNNNN.jsonl  predictions, sharded by a hash of the file's path
//	PREFIX-failed.jsonl          the dead letters: {"file", "error"} for files that failed
//	PREFIX-summary.json          counts per class, failures, files matched
//
// Only this package and cmd/xray import Beam.
package batchpipe
