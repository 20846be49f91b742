// Package progress is how xray's libraries report long work without printing: the
// caller hands a Func (nil for none) and the library calls it as the work advances.
// Only cmd/xray draws progress bars (one implementation, from these events); a program
// using the libraries can log the events, feed its own UI, or leave the Func nil.
//
// Contract: a library calls Report from one goroutine at a time (it serialises its
// workers' reports), with Done never decreasing within a Task; Total is 0 when unknown.
// The last event of a task has Done == Total when the task completed. A Func must return
// quickly: it runs on the library's working goroutine.
//
//	cfg.Progress = func(e progress.Event) { log.Printf("%s %d/%d %s", e.Task, e.Done, e.Total, e.Unit) }
//
// Log records (a skipped file, a retry) go to the *slog.Logger the caller hands the
// library; Lines renders them as plain lines for a person, as cmd/xray prints them.
package progress

// Event is the state of one long task.
type Event struct {
	Task  string // what runs, e.g. "evaluate test", "epoch 3/10", "ingest", "download mobilenet_1_0_224_tf.h5"
	Done  int64  // units done so far in this task
	Total int64  // units in the task; 0 when unknown
	Unit  string // what Done counts: "img" (images) or "B" (bytes)
	Note  string // a short status that changes as the task runs, e.g. "loss 0.2134 acc 0.9120"; may be ""
}

// Func receives a task's progress; a nil Func receives nothing.
type Func func(Event)

// Report calls f with e when f is not nil.
func (f Func) Report(e Event) {
	if f != nil {
		f(e)
	}
}
