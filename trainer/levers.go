package trainer

import (
	"fmt"
	"math"
	"slices"

	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
	"github.com/xraylab/xray/trainer/history"
	"github.com/xraylab/xray/trainer/schedule"
	"github.com/xraylab/xray/trainer/step"
)

// Class weightings (Config.ClassWeight), besides an explicit "W0,W1".
const (
	ClassWeightNone     = step.ClassWeightNone     // every image counts 1 (the paper)
	ClassWeightBalanced = step.ClassWeightBalanced // n / (2 n_c) for class c: sklearn's and Keras users' "balanced"
)

// Optimizers (Config.Optimizer), each as Keras 3 defines it (trainer/step).
const (
	OptimizerSGD   = step.OptimizerSGD   // keras.optimizers.SGD(lr, momentum): the paper's
	OptimizerAdam  = step.OptimizerAdam  // keras.optimizers.Adam(lr)
	OptimizerAdamW = step.OptimizerAdamW // keras.optimizers.AdamW(lr, weight_decay)
)

// Learning-rate schedules (Config.LRSchedule; trainer/schedule).
const (
	ScheduleConstant = schedule.Constant  // Config.LearningRate throughout (the paper)
	ScheduleCosine   = schedule.Cosine    // keras.optimizers.schedules.CosineDecay over the run's updates
	SchedulePlateau  = schedule.OnPlateau // keras.callbacks.ReduceLROnPlateau on val_loss
)

// Monitored metrics (Config.Monitor): which epoch is "best" (exported, early stopping).
const (
	MonitorValLoss     = "val_loss" // lowest validation loss (the paper's Keras checkpoint)
	MonitorValAUC      = "val_auc"  // highest validation ROC AUC of p(pneumonia)
	MonitorValAccuracy = "val_accuracy"
)

// ErrInvalidConfig matches every *ConfigError, for errors.Is.
var ErrInvalidConfig = tfgraph.ErrInvalidConfig

func configErr(field string, value any, format string, a ...any) error {
	return &ConfigError{Field: field, Value: value, Reason: fmt.Sprintf(format, a...)}
}

// withLeverDefaults fills the training levers left empty (a Config built by hand) with
// the paper's: SGD, constant rate, no class weights, best by val_loss, Keras's
// ReduceLROnPlateau factor 0.1 and patience 10.
func (c Config) withLeverDefaults() Config {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Optimizer, OptimizerSGD)
	def(&c.LRSchedule, ScheduleConstant)
	def(&c.ClassWeight, ClassWeightNone)
	def(&c.Monitor, MonitorValLoss)
	if c.PlateauFactor == 0 {
		c.PlateauFactor = 0.1
	}
	if c.PlateauPatience == 0 {
		c.PlateauPatience = 10
	}
	return c
}

// validateLevers reports the first invalid training lever.
func (c Config) validateLevers() error {
	c = c.withLeverDefaults()
	switch {
	case !slices.Contains([]string{OptimizerSGD, OptimizerAdam, OptimizerAdamW}, c.Optimizer):
		return configErr("Optimizer", c.Optimizer, "want sgd, adam or adamw")
	case c.Optimizer != OptimizerSGD && c.Momentum != 0:
		return configErr("Momentum", c.Momentum, "applies to sgd only, not %s (Adam keeps its own moments)", c.Optimizer)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return configErr("WeightDecay", c.WeightDecay, "must be 0 or positive")
	case !slices.Contains([]string{ScheduleConstant, ScheduleCosine, SchedulePlateau}, c.LRSchedule):
		return configErr("LRSchedule", c.LRSchedule, "want constant, cosine or plateau")
	case c.WarmupEpochs < 0 || c.WarmupEpochs >= c.Epochs:
		return configErr("WarmupEpochs", c.WarmupEpochs, "must be at least 0 and fewer than the %d epochs", c.Epochs)
	case !(c.PlateauFactor > 0 && c.PlateauFactor < 1):
		return configErr("PlateauFactor", c.PlateauFactor, "must be in (0, 1)")
	case c.PlateauPatience < 0:
		return configErr("PlateauPatience", c.PlateauPatience, "must be positive")
	case !(c.MinLR >= 0):
		return configErr("MinLR", c.MinLR, "must be 0 or positive")
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return configErr("LabelSmoothing", c.LabelSmoothing, "must be in [0, 1)")
	case !slices.Contains([]string{MonitorValLoss, MonitorValAUC, MonitorValAccuracy}, c.Monitor):
		return configErr("Monitor", c.Monitor, "want val_loss, val_auc or val_accuracy")
	}
	_, err := classWeights(c.ClassWeight, nil)
	return err
}

// classWeights is step.ClassWeights with its error as a ConfigError of ClassWeight.
func classWeights(spec string, counts []int) ([]float64, error) {
	w, err := step.ClassWeights(spec, counts)
	if err != nil {
		return nil, configErr("ClassWeight", spec, "%s", err.Error())
	}
	return w, nil
}

// monitorValue is the epoch's monitored metric, and whether larger is better.
func monitorValue(monitor string, e EpochStats) (v float64, maximize bool) {
	switch monitor {
	case MonitorValAUC:
		return e.ValAUC, true
	case MonitorValAccuracy:
		return e.ValAccuracy, true
	}
	return e.ValLoss, false
}

// improves reports whether epoch e beats the best epoch so far on the monitored metric
// (strictly, as Keras's ModelCheckpoint(save_best_only)); a NaN never does.
func improves(monitor string, e EpochStats, st checkpoint.State) bool {
	v, maximize := monitorValue(monitor, e)
	if st.BestEpoch == 0 || st.BestEpoch > len(st.History) {
		if maximize {
			return !math.IsNaN(v)
		}
		return v < st.BestValLoss
	}
	best, _ := monitorValue(monitor, st.History[st.BestEpoch-1])
	if maximize {
		return v > best
	}
	return v < best
}

// levers is a run's per-step machinery beside the graph: the learning-rate schedule and
// the TensorBoard writers (nil when off).
type levers struct {
	sched schedule.Schedule
	tb    *history.TensorBoard
}

// newLevers sets up the schedule for a run of cfg over data.
func newLevers(cfg Config, batchesPerEpoch int) (*levers, error) {
	lv := &levers{sched: schedule.Schedule{Kind: cfg.LRSchedule, Base: cfg.LearningRate,
		Warmup: int64(cfg.WarmupEpochs) * int64(batchesPerEpoch), Total: int64(cfg.Epochs) * int64(batchesPerEpoch)}}
	if cfg.TensorBoard != "" {
		tb, err := history.NewTensorBoard(cfg.TensorBoard)
		if err != nil {
			return nil, err
		}
		lv.tb = tb
	}
	return lv, nil
}

// Close flushes and closes the TensorBoard files.
func (lv *levers) Close() error { return lv.tb.Close() }

// endEpoch updates the epoch-driven levers after epoch es: ReduceLROnPlateau. It
// returns a line to log when the rate changed.
func (lv *levers) endEpoch(cfg Config, st *checkpoint.State, es EpochStats) string {
	// Warmup epochs ramp the rate: the plateau watches from the first epoch after them.
	if cfg.LRSchedule != SchedulePlateau || es.Epoch <= cfg.WarmupEpochs {
		return ""
	}
	if st.Plateau.Observe(es.ValLoss, cfg.PlateauFactor, cfg.MinLR, cfg.PlateauPatience) {
		return fmt.Sprintf("plateau: no val_loss improvement for %d epochs; learning rate now %.4g", cfg.PlateauPatience, st.Plateau.LR)
	}
	return ""
}

// initPlateau starts the plateau schedule's state at the base rate, unless a checkpoint
// brought it.
func (r *run) initPlateau() {
	if r.cfg.LRSchedule == SchedulePlateau && r.st.Plateau == nil {
		r.st.Plateau = &schedule.Plateau{LR: r.cfg.LearningRate, Best: math.MaxFloat64}
	}
}

// constLR is the learning rate when it never changes (constant schedule, no warmup), to
// build into the graph; 0 otherwise.
func (c Config) constLR() float64 {
	if c.LRSchedule == ScheduleConstant && c.WarmupEpochs == 0 {
		return c.LearningRate
	}
	return 0
}
