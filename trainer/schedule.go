package trainer

import (
	"math"
)

// Learning-rate schedules (Config.LRSchedule). Each gives the rate of every update from
// the number of updates before it, as a Keras LearningRateSchedule is called with the
// optimizer's iterations; Go computes it and feeds it to the graph.
const (
	ScheduleConstant = "constant" // Config.LearningRate throughout (the paper)
	ScheduleCosine   = "cosine"   // keras.optimizers.schedules.CosineDecay over the run's updates
	SchedulePlateau  = "plateau"  // keras.callbacks.ReduceLROnPlateau on val_loss
)

// plateauMinDelta is ReduceLROnPlateau's default min_delta: smaller val_loss gains do not
// count as improvement.
const plateauMinDelta = 1e-4

// schedule computes per-update learning rates.
type schedule struct {
	kind   string
	base   float64 // Config.LearningRate: the peak after warmup
	warmup int64   // updates of linear warmup from 0
	total  int64   // updates of the whole run: epochs x batches per epoch (--max-steps does not shorten it)
}

// at is the learning rate of the update that follows step earlier ones. Warmup is
// CosineDecay's: from 0 (initial_learning_rate) to base (warmup_target) linearly over the
// warmup updates; cosine then decays to 0 over the remaining total - warmup (alpha 0,
// and it stays at 0 past the end). plateau returns its current rate (lr) after warmup.
func (s schedule) at(step int64, plateauLR float64) float64 {
	if step < s.warmup {
		return s.base * float64(step) / float64(s.warmup)
	}
	switch s.kind {
	case ScheduleCosine:
		decay := s.total - s.warmup
		if decay <= 0 {
			return 0
		}
		frac := math.Min(float64(step-s.warmup), float64(decay)) / float64(decay)
		return s.base * 0.5 * (1 + math.Cos(math.Pi*frac))
	case SchedulePlateau:
		return plateauLR
	}
	return s.base
}

// Plateau is ReduceLROnPlateau's state (cooldown 0), kept in checkpoints so --resume
// continues it.
type Plateau struct {
	LR   float64 `json:"lr"`   // current rate
	Best float64 `json:"best"` // lowest val_loss so far (+Inf before the first epoch; JSON null)
	Wait int     `json:"wait"` // epochs since Best improved by more than min_delta
}

// observe is ReduceLROnPlateau.on_epoch_end: after patience epochs without val_loss
// improving on the best by more than min_delta, the rate is multiplied by factor (not
// below minLR) and the count restarts. It reports whether the rate changed.
func (p *Plateau) observe(valLoss, factor, minLR float64, patience int) bool {
	if valLoss < p.Best-plateauMinDelta {
		p.Best, p.Wait = valLoss, 0
		return false
	}
	p.Wait++
	if p.Wait < patience {
		return false
	}
	p.Wait = 0
	if p.LR > float64(float32(minLR)) {
		p.LR = math.Max(p.LR*factor, minLR)
		return true
	}
	return false
}
