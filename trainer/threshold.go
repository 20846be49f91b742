package trainer

import (
	"context"
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/trainer/step"
)

// operatingPoint predicts the validation split with the session's current weights (the
// best epoch's, when exportModels calls it) and chooses the decision threshold by
// cfg.Threshold (default Youden) for the SavedModel's metadata. When none can be chosen
// (no validation split, one class, scores that do not separate the classes) it logs why
// and returns nil: the model then decides by argmax, as the paper. Models of more than two
// classes always decide by argmax.
func (r *run) operatingPoint(ctx context.Context) (*decision.Threshold, error) {
	rule := decision.Rule(r.cfg.Threshold)
	if rule == "" {
		rule = decision.DefaultRule
	}
	if r.data.Classes.Len() != 2 {
		return nil, nil // thresholds are two-class; setup refused an explicit rule
	}
	if rule == decision.Argmax {
		return &decision.Threshold{Rule: decision.Argmax, Value: 0.5}, nil
	}
	val := r.data.Val
	if val.Len() == 0 {
		r.log.warnf("no validation split to choose the operating threshold on; the model decides by argmax")
		return nil, nil
	}
	var truth []int
	var scores []float64
	err := val.Epoch(ctx, 0, func(b loader.Batch) error {
		img, err := step.Tensor(b.Images, []int64{int64(b.Len()), int64(r.cfg.InputSize), int64(r.cfg.InputSize), 3})
		if err != nil {
			return err
		}
		out, err := r.sess.Run(map[tf.Output]*tf.Tensor{r.m.Input: img}, []tf.Output{r.m.Probs}, nil)
		if err != nil {
			return fmt.Errorf("operating threshold: predict the validation split: %w", err)
		}
		for i, p := range out[0].Value().([][]float32) {
			truth = append(truth, b.Labels[i])
			scores = append(scores, float64(p[labels.Pneumonia]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t, err := rule.Choose(truth, scores)
	if err != nil {
		r.log.warnf("no operating threshold (%v); the model decides by argmax", err)
		return nil, nil
	}
	r.log.printf("operating threshold: %s, chosen on %d validation images", t, len(truth))
	return &t, nil
}
