// Package predictstream classifies image files at archive scale with a savedmodels.Model:
// files are discovered lazily (a directory walk, a glob, a list file), decoded and
// predicted a batch at a time with a bounded number of batches in flight, and handed
// back in input order as they finish, so memory depends on the batch size, not on the
// number of files. Output appends them to a JSON Lines file, flushed and fsync'd per
// batch, that a later run can resume.
//
//	src, err := predictstream.Input("archive/")          // DIR, GLOB, LIST.txt or "-"
//	out, err := predictstream.OpenOutput("preds.jsonl", true) // true: resume it
//	defer out.Close()
//	err = predictstream.Run(ctx, model, src, predictstream.Options{Skip: out.Done}, out.Write)
//
// One line per file: Line's JSON, {"file", "class", "class_id", "probability",
// "probabilities", "decision_id"} or {"file", "error"}. A kill loses at most the batches
// in flight; the torn last line it may leave is dropped when the file is resumed.
package predictstream
