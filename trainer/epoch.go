package trainer

import (
	"context"
	"fmt"
	"math"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
	"github.com/xraylab/xray/trainer/rundata"
	"github.com/xraylab/xray/trainer/step"
)

// trainEpoch runs one epoch of optimizer steps, each at its scheduled learning rate. stop
// reports that the step limit was reached.
func trainEpoch(ctx context.Context, sess *tf.Session, g *step.Graph, m *tfgraph.Model, data *rundata.Data, cfg Config, epoch int, st *checkpoint.State, lv *levers) (r step.Running, stop bool, err error) {
	task := progress.Event{Task: fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs), Total: int64(data.Train.Len()), Unit: "img"}
	err = data.Train.Epoch(ctx, epoch, func(b step.Batch) error {
		lr := lv.sched.At(st.Step, st.PlateauLR())
		loss, correct, err := g.Train(sess, m, b, cfg.InputSize, lr, st.Step+1)
		if err != nil {
			return err
		}
		r.Add(loss, correct, b.Len())
		r.LR = lr
		st.Step++
		if err := lv.tb.Step(st.Step, float64(loss), float64(correct)/float64(b.Len()), lr); err != nil {
			return err
		}
		task.Done += int64(b.Len())
		task.Note = fmt.Sprintf("loss %.4f acc %.4f", r.Loss(), r.Accuracy())
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

// evaluateSplit is Graph.Evaluate over a split (loss, accuracy, ROC AUC in inference
// mode); nothing to evaluate gives NaN AUC.
func evaluateSplit(ctx context.Context, sess *tf.Session, g *step.Graph, m *tfgraph.Model, split *rundata.Split, cfg Config, epoch int) (step.Running, float64, error) {
	if split == nil || split.Len() == 0 {
		return step.Running{}, math.NaN(), nil
	}
	return g.Evaluate(sess, m, cfg.InputSize, func(fn func(step.Batch) error) error {
		return split.Epoch(ctx, 0, func(b step.Batch) error {
			if err := fn(b); err != nil {
				return fmt.Errorf("validation after epoch %d: %w", epoch, err)
			}
			return nil
		})
	})
}

// errStopEpoch ends an epoch's batch loop early (--max-steps).
var errStopEpoch = fmt.Errorf("stop epoch")
