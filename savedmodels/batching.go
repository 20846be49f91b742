package savedmodels

import (
	"context"
	"time"
)

// request is one Predict call's images, waiting for the dispatcher.
type request struct {
	ctx    context.Context
	pixels [][]float32 // preprocessed, one per image
	probs  [][]float32
	class  []int
	err    error
	done   chan struct{}
}

func (m *Model) isClosed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.closed
}

// submit queues req unless the model is closed or ctx ends first.
func (m *Model) submit(req *request) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	select {
	case m.requests <- req:
		return nil
	case <-req.ctx.Done():
		return req.ctx.Err()
	}
}

// dispatch gathers queued requests into batches of up to maxBatch images, waiting at
// most maxDelay after the first for more, and runs them. It answers every request it
// takes, and on quit the ones still queued.
func (m *Model) dispatch() {
	defer close(m.stopped)
	var timer *time.Timer
	for {
		var first *request
		select {
		case first = <-m.requests:
		case <-m.quit:
			for {
				select {
				case r := <-m.requests:
					m.run([]*request{r})
				default:
					return
				}
			}
		}
		batch, n := []*request{first}, len(first.pixels)
		if m.maxDelay > 0 && n < m.maxBatch {
			if timer == nil {
				timer = time.NewTimer(m.maxDelay)
			} else {
				timer.Reset(m.maxDelay)
			}
		wait:
			for n < m.maxBatch {
				select {
				case r := <-m.requests:
					batch, n = append(batch, r), n+len(r.pixels)
				case <-timer.C:
					break wait
				case <-m.quit:
					break wait
				}
			}
			if !timer.Stop() {
				select { // drain a fire that raced with Stop
				case <-timer.C:
				default:
				}
			}
		}
	drain: // whatever else is already queued, up to the batch size
		for n < m.maxBatch {
			select {
			case r := <-m.requests:
				batch, n = append(batch, r), n+len(r.pixels)
			default:
				break drain
			}
		}
		m.run(batch)
	}
}

// run answers the live requests of batch with session runs of up to maxBatch images.
func (m *Model) run(batch []*request) {
	live := batch[:0:0]
	var images [][]float32
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil { // its caller has gone
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
		images = append(images, r.pixels...)
	}
	if len(live) == 0 {
		return
	}
	probs := make([][]float32, 0, len(images))
	class := make([]int, 0, len(images))
	var err error
	for start := 0; start < len(images) && err == nil; start += m.maxBatch {
		var p [][]float32
		var c []int
		p, c, err = m.runBatch(images[start:min(start+m.maxBatch, len(images))])
		probs, class = append(probs, p...), append(class, c...)
	}
	k := 0
	for _, r := range live {
		if err != nil {
			r.err = err
		} else {
			r.probs, r.class = probs[k:k+len(r.pixels)], class[k:k+len(r.pixels)]
		}
		k += len(r.pixels)
		close(r.done)
	}
}
