package trainer

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
)

// running accumulates Keras's epoch averages: the loss weighted by batch size, and
// accuracy over all images.
type running struct {
	lossSum float64
	correct float64
	n       int
	lr      float64 // learning rate of the last update
}

func (r *running) add(meanLoss, correct float32, n int) {
	r.lossSum += float64(meanLoss) * float64(n)
	r.correct += float64(correct)
	r.n += n
}

func (r running) loss() float64 {
	if r.n == 0 {
		return 0
	}
	return r.lossSum / float64(r.n)
}

func (r running) accuracy() float64 {
	if r.n == 0 {
		return 0
	}
	return r.correct / float64(r.n)
}

// batchTensors turns a batch into the image and label feeds.
func batchTensors(b batch, size int) (*tf.Tensor, *tf.Tensor, error) {
	img, err := tfTensor(b.Images, []int64{int64(b.Len()), int64(size), int64(size), 3})
	if err != nil {
		return nil, nil, err
	}
	lab, err := tfTensor(b.OneHot, []int64{int64(b.Len()), int64(len(b.OneHot) / max(1, b.Len()))})
	if err != nil {
		return nil, nil, err
	}
	return img, lab, nil
}

// trainEpoch runs one epoch of optimizer steps, each at its scheduled learning rate. stop
// reports that the step limit was reached.
func trainEpoch(ctx context.Context, sess *tf.Session, g *sgdGraph, m *tfgraph.Model, data *trainData, cfg Config, epoch int, st *State, lv *levers) (r running, stop bool, err error) {
	task := progress.Event{Task: fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs), Total: int64(data.Train.Len()), Unit: "img"}
	err = data.Train.Epoch(ctx, epoch, func(b batch) error {
		lr := lv.sched.at(st.Step, st.plateauLR())
		feeds, err := lv.stepFeeds(g, lr, st.Step+1)
		if err != nil {
			return err
		}
		targets, err := g.feedBatch(feeds, m, b, cfg.InputSize)
		if err != nil {
			return err
		}
		out, err := sess.Run(feeds, []tf.Output{g.Loss, g.Correct}, targets)
		if err != nil {
			return fmt.Errorf("training step %d: %w", st.Step+1, err)
		}
		loss, correct := out[0].Value().(float32), out[1].Value().(float32)
		r.add(loss, correct, b.Len())
		r.lr = lr
		st.Step++
		if err := lv.tb.step(st.Step, float64(loss), float64(correct)/float64(b.Len()), lr); err != nil {
			return err
		}
		task.Done += int64(b.Len())
		task.Note = fmt.Sprintf("loss %.4f acc %.4f", r.loss(), r.accuracy())
		cfg.Progress.Report(task)
		if cfg.MaxSteps > 0 && st.Step >= cfg.MaxSteps {
			stop = true
			return errStopEpoch
		}
		return nil
	})
	if err == errStopEpoch {
		err = nil
	}
	return r, stop, err
}

// evaluateSplit computes loss, accuracy and ROC AUC over a split in inference mode: of
// p(pneumonia) for two classes, else the macro average of the one-vs-rest areas
// (metrics.OneVsRestAUC); NaN when undefined.
func evaluateSplit(ctx context.Context, sess *tf.Session, g *sgdGraph, m *tfgraph.Model, split *splitData, cfg Config, epoch int) (running, float64, error) {
	var r running
	if split == nil || split.Len() == 0 {
		return r, math.NaN(), nil
	}
	var labels []int
	var probs [][]float64
	err := split.Epoch(ctx, 0, func(b batch) error {
		loss, correct, p, err := g.evalBatch(sess, m, b, cfg.InputSize)
		if err != nil {
			return fmt.Errorf("validation after epoch %d: %w", epoch, err)
		}
		r.add(loss, correct, b.Len())
		k := len(p) / b.Len()
		for i, l := range b.Labels {
			row := make([]float64, k)
			for c := range row {
				row[c] = float64(p[k*i+c])
			}
			labels, probs = append(labels, l), append(probs, row)
		}
		return nil
	})
	if err != nil {
		return r, math.NaN(), err
	}
	// Undefined (NaN) with one class in validation or a diverged model.
	auc, _, aerr := metrics.OneVsRestAUC(labels, probs)
	if len(probs) > 0 && len(probs[0]) == 2 {
		scores := make([]float64, len(probs))
		for i, p := range probs {
			scores[i] = p[1]
		}
		auc, aerr = metrics.ROCAUC(labels, scores)
	}
	if aerr != nil {
		auc = math.NaN()
	}
	return r, auc, nil
}

// errStopEpoch ends an epoch's batch loop early (--max-steps).
var errStopEpoch = fmt.Errorf("stop epoch")

// tfTensor wraps a flat float32 slice as a tensor of the given shape without converting
// to nested slices.
func tfTensor(data []float32, shape []int64) (*tf.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if int64(len(data)) != n {
		return nil, fmt.Errorf("tensor of shape %v needs %d values, got %d", shape, n, len(data))
	}
	return tf.ReadTensor(tf.Float, shape, bytes.NewReader(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))))
}
