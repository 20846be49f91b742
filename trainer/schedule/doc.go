// Package schedule is the learning rate of every update, as Keras 3's schedules give it:
// constant, CosineDecay over the run's updates (with linear warmup) and
// ReduceLROnPlateau on the validation loss (Plateau, whose state a checkpoint carries).
//
// # Contract
//
// Schedule.At is a pure function of the number of updates before (and the plateau's
// current rate); Plateau.Observe is ReduceLROnPlateau.on_epoch_end. Nothing else: no
// graph, no files.
//
// # Usage
//
//	s := schedule.Schedule{Kind: schedule.Cosine, Base: 0.01, Warmup: 100, Total: 3260}
//	lr := s.At(step, 0)
package schedule
