// Package checkpoint is a training run's checkpoint files: every variable (model weights,
// BatchNormalization statistics, optimizer slots) with the loop's State, in one file per
// epoch (Name) plus the best epoch's (Best), so a killed run continues as if never
// stopped.
//
// # Contract
//
// Write replaces a file atomically (a kill leaves the old file or the new one, never a
// mix); Read verifies the trailing SHA-256 and fails with ErrCorrupt (errors.Is) on a
// truncated or altered file; Latest returns the newest readable epoch checkpoint,
// skipping damaged ones through warn; Save keeps the last two epoch checkpoints;
// RepairBest makes Best hold the epoch State names as best. Tensors are float32 only.
// The package logs nothing: warnings go to the caller's warn function.
//
// # Usage
//
//	if err := checkpoint.Save(dir, st, tensors, improved); err != nil { ... }
//	path, st, tensors, ok, err := checkpoint.Latest(dir, func(w string) { log.Print(w) })
package checkpoint
