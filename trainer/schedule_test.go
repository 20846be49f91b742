package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
)

// TestSchedulesMatchKeras compares the per-update rates of the cosine schedule (with and
// without warmup) with Keras's CosineDecay, and the plateau rate after each epoch with
// Keras's ReduceLROnPlateau fed the same val_loss sequence (float32 schedules: rel 1e-6).
func TestSchedulesMatchKeras(t *testing.T) {
	pyref.Require(t)
	const lr, total = 0.01, 40
	// Improvements, a stall shorter than patience, stalls that cut the rate, a gain below
	// min_delta (not an improvement), a NaN, and enough stalls to reach min_lr.
	losses := []float64{1, 0.9, 0.95, 0.92, 0.91, 0.8, 0.79995, 0.81, 0.82, math.NaN(), 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5}
	const factor, patience, minLR = 0.5, 2, 0.001
	var ls []string
	for _, v := range losses {
		ls = append(ls, strconv.FormatFloat(v, 'g', -1, 64))
	}
	for _, warmup := range []int64{0, 5} {
		out := pyref.Run(t, pyref.Script("trainer_schedules.py"), "--lr", "0.01", "--warmup", strconv.FormatInt(warmup, 10),
			"--total", strconv.Itoa(total), "--val-losses", strings.Join(ls, ","), "--factor", "0.5", "--patience", "2", "--min-lr", "0.001")
		var ref struct {
			Cosine    []float64 `json:"cosine"`
			PlateauLR []float64 `json:"plateau_lr"`
		}
		if err := json.Unmarshal(out, &ref); err != nil {
			t.Fatal(err)
		}
		if len(ref.Cosine) != total+3 || len(ref.PlateauLR) != len(losses) {
			t.Fatalf("reference has %d cosine and %d plateau values", len(ref.Cosine), len(ref.PlateauLR))
		}
		s := schedule{kind: ScheduleCosine, base: lr, warmup: warmup, total: total}
		for step, want := range ref.Cosine {
			got := s.at(int64(step), 0)
			if math.IsNaN(got) || math.Abs(got-want) > 1e-6*lr {
				t.Errorf("warmup %d: cosine rate at step %d: %.9g, Keras %.9g", warmup, step, got, want)
			}
		}
		if warmup != 0 {
			continue
		}
		p := Plateau{LR: lr, Best: math.MaxFloat64}
		for i, v := range losses {
			p.observe(v, factor, minLR, patience)
			approx.Within(t, fmt.Sprintf("plateau rate after epoch %d (val_loss %g) against Keras", i+1, v),
				[]float64{p.LR}, ref.PlateauLR[i:i+1], approx.Abs, 1e-6*lr)
		}
		if p.LR != minLR {
			t.Errorf("the sequence should drive the rate to min_lr %g, got %g: the test lost its point", minLR, p.LR)
		}
	}
}

// TestConstantAndWarmupSchedule checks hand-computed rates: constant is --lr at every
// update; warmup rises linearly from 0 to it.
func TestConstantAndWarmupSchedule(t *testing.T) {
	s := schedule{kind: ScheduleConstant, base: 0.002, warmup: 4, total: 100}
	for step, want := range map[int64]float64{0: 0, 1: 0.0005, 3: 0.0015, 4: 0.002, 99: 0.002, 500: 0.002} {
		approx.Within(t, fmt.Sprintf("constant rate with warmup at step %d", step), []float64{s.at(step, 0)}, []float64{want}, approx.Abs, 1e-15)
	}
	p := schedule{kind: SchedulePlateau, base: 0.002, warmup: 2, total: 100}
	if got := p.at(1, 0.0001); got != 0.001 {
		t.Errorf("plateau during warmup: %g, want 0.001", got)
	}
	if got := p.at(2, 0.0001); got != 0.0001 {
		t.Errorf("plateau after warmup: %g, want its own rate 0.0001", got)
	}
}

// TestClassWeights checks the balanced weights by hand (n / (2 n_c)) and the errors.
func TestClassWeights(t *testing.T) {
	w, err := classWeights(ClassWeightBalanced, []int{1341, 3875})
	if err != nil {
		t.Fatalf("balanced of 1341/3875: %v", err)
	}
	approx.Within(t, "balanced of 1341/3875", w, []float64{5216.0 / 2682, 5216.0 / 7750}, approx.Abs, 1e-12)
	if w, err := classWeights("2, 0.5", []int{1, 1}); err != nil || w[0] != 2 || w[1] != 0.5 {
		t.Errorf("\"2, 0.5\": %v %v", w, err)
	}
	if w, err := classWeights(ClassWeightNone, []int{1, 1}); err != nil || w != nil {
		t.Errorf("none: %v %v", w, err)
	}
	for _, bad := range []string{"heavy", "1", "1,2,3", "0,1", "-1,1", "1,NaN", "1,Inf"} {
		if _, err := classWeights(bad, []int{1, 1}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("class weight %q: %v, want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := classWeights(ClassWeightBalanced, []int{0, 5}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("balanced without normal images: %v", err)
	}
	// Three classes: n / (3 n_c), sklearn's compute_class_weight("balanced"), by hand.
	w, err = classWeights(ClassWeightBalanced, []int{1341, 2530, 1345})
	if err != nil {
		t.Fatalf("balanced of 1341/2530/1345: %v", err)
	}
	approx.Within(t, "balanced of 1341/2530/1345", w, []float64{5216.0 / 4023, 5216.0 / 7590, 5216.0 / 4035}, approx.Abs, 1e-12)
	if w, err := classWeights("1,2,3", []int{1, 1, 1}); err != nil || len(w) != 3 || w[2] != 3 {
		t.Errorf("\"1,2,3\" for three classes: %v %v", w, err)
	}
	if _, err := classWeights("1,2", []int{1, 1, 1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("two weights for three classes: %v", err)
	}
}

// TestLeverValidation: every bad lever value is a *ConfigError naming the setting.
func TestLeverValidation(t *testing.T) {
	for field, mod := range map[string]func(*Config){
		"Optimizer":       func(c *Config) { c.Optimizer = "rmsprop" },
		"Momentum":        func(c *Config) { c.Optimizer, c.Momentum = OptimizerAdam, 0.9 },
		"WeightDecay":     func(c *Config) { c.WeightDecay = -1 },
		"LRSchedule":      func(c *Config) { c.LRSchedule = "step" },
		"WarmupEpochs":    func(c *Config) { c.WarmupEpochs = c.Epochs },
		"PlateauFactor":   func(c *Config) { c.PlateauFactor = 1.5 },
		"PlateauPatience": func(c *Config) { c.PlateauPatience = -1 },
		"MinLR":           func(c *Config) { c.MinLR = math.NaN() },
		"LabelSmoothing":  func(c *Config) { c.LabelSmoothing = 1 },
		"Monitor":         func(c *Config) { c.Monitor = "loss" },
		"ClassWeight":     func(c *Config) { c.ClassWeight = "1" },
	} {
		c := DefaultConfig()
		c.Data = "x"
		mod(&c)
		err := c.Validate()
		var ce *ConfigError
		if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	c := DefaultConfig()
	c.Data = "x"
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
