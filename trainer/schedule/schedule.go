package schedule

import (
	"math"
)

// Learning-rate schedules (trainer.Config.LRSchedule). Each gives the rate of every update from
// the number of updates before it, as a Keras LearningRateSchedule is called with the
// optimizer's iterations; Go computes it and feeds it to the graph.
const (
	Constant  = "constant" // the base rate throughout (the paper)
	Cosine    = "cosine"   // keras.optimizers.schedules.CosineDecay over the run's updates
	OnPlateau = "plateau"  // keras.callbacks.ReduceLROnPlateau on val_loss
)

// plateauMinDelta is ReduceLROnPlateau's default min_delta: smaller val_loss gains do not
// count as improvement.
const plateauMinDelta = 1e-4

// Schedule computes per-update learning rates.
type Schedule struct {
	Kind   string  // Constant, Cosine or OnPlateau
	Base   float64 // the rate (trainer.Config.LearningRate): the peak after warmup
	Warmup int64   // updates of linear warmup from 0
	Total  int64   // updates of the whole run: epochs x batches per epoch (--max-steps does not shorten it)
}

// At is the learning rate of the update that follows step earlier ones. Warmup is
// CosineDecay's: from 0 (initial_learning_rate) to base (warmup_target) linearly over the
// warmup updates; cosine then decays to 0 over the remaining total - warmup (alpha 0,
// and it stays at 0 past the end). plateau returns its current rate (lr) after warmup.
func (s Schedule) At(step int64, plateauLR float64) float64 {
	if step < s.Warmup {
		return s.Base * float64(step) / float64(s.Warmup)
	}
	switch s.Kind {
	case Cosine:
		decay := s.Total - s.Warmup
		if decay <= 0 {
			return 0
		}
		frac := math.Min(float64(step-s.Warmup), float64(decay)) / float64(decay)
		return s.Base * 0.5 * (1 + math.Cos(math.Pi*frac))
	case OnPlateau:
		return plateauLR
	}
	return s.Base
}

// Plateau is ReduceLROnPlateau's state (cooldown 0), kept in checkpoints so --resume
// continues it.
type Plateau struct {
	LR   float64 `json:"lr"`   // current rate
	Best float64 `json:"best"` // lowest val_loss so far (+Inf before the first epoch; JSON null)
	Wait int     `json:"wait"` // epochs since Best improved by more than min_delta
}

// Observe is ReduceLROnPlateau.on_epoch_end: after patience epochs without val_loss
// improving on the best by more than min_delta, the rate is multiplied by factor (not
// below minLR) and the count restarts. It reports whether the rate changed.
func (p *Plateau) Observe(valLoss, factor, minLR float64, patience int) bool {
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
