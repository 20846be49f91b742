package trainer

import (
	"fmt"
	"path/filepath"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/weights"
	"github.com/xraylab/xray/trainer/checkpoint"
	"github.com/xraylab/xray/trainer/step"
)

// loadInitialWeights applies --weights (the backbone: ImageNet, none or a file) and then
// --init (a Keras-trained full model, base and head), after the seeded initialisers ran.
func loadInitialWeights(sess *tf.Session, m *tfgraph.Model, cfg Config, log logger) error {
	if cfg.Init == "" && cfg.Weights != "none" && cfg.Weights != "" {
		path, err := weights.Resolve(cfg.Weights, cfg.Arch, cfg.WeightsCache, cfg.Progress)
		if err != nil {
			return err
		}
		rep, err := weights.Load(sess, m, path, weights.ModeBase)
		if err != nil {
			return err
		}
		log.printf("weights: %s", rep)
	}
	if cfg.Init != "" {
		rep, err := weights.Load(sess, m, cfg.Init, weights.ModeFull)
		if err != nil {
			return fmt.Errorf("init model: %w", err)
		}
		log.printf("init: %s", rep)
	}
	return nil
}

// exportModels restores the best epoch's weights and exports them to OUT/savedmodel with
// the operating threshold operatingPoint chooses for them; when the last epoch is not the
// best it exports the last one too, to OUT/savedmodel-last (without a threshold).
func exportModels(sess *tf.Session, m *tfgraph.Model, vars []*tfgraph.Variable, cfg Config, classes labels.Set, st checkpoint.State, res *Result, log logger,
	operatingPoint func() (*decision.Threshold, error)) error {
	meta := savedmodels.Metadata{Arch: cfg.Arch, InputSize: cfg.InputSize, Pool: cfg.Pool, Preprocessing: cfg.Preprocess,
		Classes: classes.Names(), RunID: runID(cfg), XrayVersion: buildinfo.Version, DICOMWindow: &cfg.DICOMWindow}
	last := filepath.Join(cfg.Out, "savedmodel-last")
	if st.BestEpoch != st.Epoch && st.BestEpoch > 0 {
		if err := exportModel(last, sess, m, meta); err != nil {
			return err
		}
		res.LastModel = last
		bst, tensors, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Best))
		if err != nil {
			return fmt.Errorf("restore the best epoch (%d): %w", st.BestEpoch, err)
		}
		if bst.Epoch != st.BestEpoch {
			return fmt.Errorf("restore the best epoch (%d): %s holds epoch %d; the last epoch is exported in %s", st.BestEpoch, checkpoint.Best, bst.Epoch, last)
		}
		if err := tfgraph.SetValues(sess, vars, step.WithoutLossScale(tensors, vars)); err != nil {
			return fmt.Errorf("restore the best epoch (%d): %w", st.BestEpoch, err)
		}
	}
	th, err := operatingPoint()
	if err != nil {
		return err
	}
	meta.Threshold = th
	best := filepath.Join(cfg.Out, "savedmodel")
	if err := exportModel(best, sess, m, meta); err != nil {
		return err
	}
	res.SavedModel = best
	if cfg.Monitor != MonitorValLoss && st.BestEpoch > 0 && st.BestEpoch <= len(st.History) {
		bv, _ := monitorValue(cfg.Monitor, st.History[st.BestEpoch-1])
		log.printf("best epoch %d (%s %.4f, val_loss %.4f): SavedModel in %s", st.BestEpoch, cfg.Monitor, bv, st.BestValLoss, best)
	} else {
		log.printf("best epoch %d (val_loss %.4f): SavedModel in %s", st.BestEpoch, st.BestValLoss, best)
	}
	if res.LastModel != "" {
		log.printf("last epoch %d: SavedModel in %s", st.Epoch, res.LastModel)
	}
	return nil
}

// runID names the run in SavedModel metadata: the run directory's base name unless set.
func runID(cfg Config) string {
	if cfg.RunID != "" {
		return cfg.RunID
	}
	abs, err := filepath.Abs(cfg.Out)
	if err != nil {
		return filepath.Base(cfg.Out)
	}
	return filepath.Base(abs)
}
