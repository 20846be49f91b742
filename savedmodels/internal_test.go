package savedmodels

// The tests of this package are package savedmodels_test, so they can build their
// fixtures with savedmodels/export (which imports savedmodels). This file, compiled
// into the package under test only, lends them the few internals they check.

import (
	"context"

	"github.com/xraylab/xray/preprocess"
)

// Exported for the tests.
var (
	ArgmaxClass = argmaxClass
	FloatBytes  = floatBytes
)

// Runs is the number of session runs m has made (the tests check the batching).
func Runs(m *Model) int64 { return m.runs.Load() }

// ModelPreprocessor is the Go preprocessing m runs before its session.
func ModelPreprocessor(m *Model) preprocess.Preprocessor { return m.pre }

// QueuedRequest is one image of zeros handed straight to m's dispatcher, bypassing
// Predict's own wait, so a test can cancel its context while it is queued.
type QueuedRequest struct{ r *request }

// SubmitZeros queues one image of zeros for m's dispatcher under ctx.
func SubmitZeros(ctx context.Context, m *Model) (*QueuedRequest, error) {
	r := &request{ctx: ctx, pixels: [][]float32{make([]float32, m.pre.Len())}, done: make(chan struct{})}
	if err := m.submit(r); err != nil {
		return nil, err
	}
	return &QueuedRequest{r}, nil
}

// Wait waits for the dispatcher's answer: the probabilities, or the error.
func (q *QueuedRequest) Wait() ([][]float32, error) {
	<-q.r.done
	return q.r.probs, q.r.err
}
