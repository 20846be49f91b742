// Package history is what a training run records per epoch and per update: EpochStats
// (Keras's epoch averages and validation metrics), history.csv, curves.png (accuracy
// and loss, train against validation, as the paper's figures) and TensorBoard scalars
// laid out as Keras's TensorBoard callback lays them out.
//
// # Contract
//
// Every file is written atomically or appended by the TensorBoard writer; non-finite
// values (a diverged run) are kept: history.csv and JSON write them as NaN/+Inf
// (Float), the curves leave them out. A nil *TensorBoard writes nothing. Nothing is
// printed.
//
// # Usage
//
//	if err := history.WriteCSV(filepath.Join(out, "history.csv"), epochs); err != nil { ... }
//	tb, err := history.NewTensorBoard(dir) // then tb.Step, tb.Epoch, tb.Close
package history
