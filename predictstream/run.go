package predictstream

import (
	"context"
	"sync"

	"github.com/xraylab/xray/savedmodels"
)

// Options tune Run. The zero value is ready to use.
type Options struct {
	// Batch is how many files are read, decoded and predicted together and handed to
	// emit together (default savedmodels.DefaultMaxBatch).
	Batch int
	// InFlight is how many batches are decoded or predicted at once (default 2: one
	// decodes while the other runs). Decoded pixels are held for these batches only.
	InFlight int
	// Skip, when set, passes over the paths it is true for (those a resumed output
	// already holds).
	Skip func(path string) bool
}

// Defaults of Options.
const DefaultInFlight = 2

// batch is one emit's worth of files, numbered in source order.
type batch struct {
	seq   int
	lines []Line
	err   error // the model's, for the batch as a whole
}

// Run predicts every file src yields with m and hands the results to emit, a batch at a
// time, in source order. A file that cannot be read or decoded, or that the source could
// not list, gets a Line with Err; the others go on. Run returns the first of emit's
// error, the model's error for a whole batch (closed, TensorFlow failed), the source's
// error and ctx's, after the batches before it were emitted.
func Run(ctx context.Context, m *savedmodels.Model, src Source, opts Options, emit func([]Line) error) error {
	size, inflight := opts.Batch, opts.InFlight
	if size <= 0 {
		size = savedmodels.DefaultMaxBatch
	}
	if inflight <= 0 {
		inflight = DefaultInFlight
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *batch)
	done := make(chan *batch, inflight)
	// Batches started and not yet emitted: bounds the reorder buffer when one batch is slow.
	tokens := make(chan struct{}, 2*inflight)
	var srcErr error // written before jobs closes, read after done closes
	go func() {
		defer close(jobs)
		srcErr = produce(ctx, src, opts.Skip, size, func(b *batch) bool {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- b:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var wg sync.WaitGroup
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				b.err = predict(ctx, m, b.lines)
				done <- b // buffered for every worker; the consumer drains it to the end
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return consume(ctx, cancel, done, tokens, emit, &srcErr)
}

// produce cuts src into batches of size files and sends them until src ends, send
// refuses or the source fails (its error is returned).
func produce(ctx context.Context, src Source, skip func(string) bool, size int, send func(*batch) bool) error {
	b := &batch{}
	for p, err := range src {
		if p == "" && err != nil {
			return err
		}
		if skip != nil && skip(p) {
			continue
		}
		b.lines = append(b.lines, Line{File: p, Prediction: savedmodels.Prediction{Err: err}})
		if len(b.lines) == size {
			if !send(b) {
				return nil
			}
			b = &batch{seq: b.seq + 1}
		}
	}
	if len(b.lines) > 0 {
		send(b)
	}
	return ctx.Err()
}

// consume emits the finished batches in order until done closes, stopping the rest at
// the first error.
func consume(ctx context.Context, cancel func(), done <-chan *batch, tokens <-chan struct{}, emit func([]Line) error, srcErr *error) error {
	var first error
	pending := map[int]*batch{}
	next := 0
	for b := range done {
		if first != nil {
			continue // draining
		}
		if b.err != nil {
			first = b.err
			cancel()
			continue
		}
		pending[b.seq] = b
		for p, ok := pending[next]; ok; p, ok = pending[next] {
			delete(pending, next)
			next++
			<-tokens
			if err := emit(p.lines); err != nil {
				first = err
				cancel()
				break
			}
		}
	}
	if first == nil {
		first = *srcErr
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// predict fills in the predictions of lines that have no error yet.
func predict(ctx context.Context, m *savedmodels.Model, lines []Line) error {
	var paths []string
	var which []int
	for i, l := range lines {
		if l.Err == nil {
			paths, which = append(paths, l.File), append(which, i)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	preds, err := m.PredictFile(ctx, paths...)
	if err != nil {
		return err
	}
	classes := m.Metadata().Classes
	for k, i := range which {
		lines[i].Prediction, lines[i].Classes = preds[k], classes
		if preds[k].Err == nil {
			lines[i].DICOM = dicomInfo(lines[i].File)
		}
	}
	return nil
}
