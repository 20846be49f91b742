// Package compare is `xray compare`: evaluated runs side by side with the paper's
// Table 1. It reads what evaluator wrote (a run's eval-test/metrics.json, or a
// metrics.json), takes each run's architecture from its run.json (else metrics.json's
// "model"), and renders one Markdown table (our runs, then the paper's published rows,
// from evaluator.PaperTable1) and a bar chart of accuracies. Warnings say why numbers
// may not be comparable: runs evaluated on different images (their split_sha256
// differ), a model unknown or not one of the paper's.
//
// It runs no model and imports no TensorFlow; it prints nothing (the caller prints
// Markdown and the warnings). A run without metrics.json fails with ErrNotEvaluated.
// Write writes compare.md and compare.png atomically.
//
//	t, err := compare.Load([]string{"runs/xception", "runs/mobilenet"})
//	if err != nil { return err }
//	fmt.Print(t.Markdown())
//	err = compare.Write("runs/compare", t)
package compare
