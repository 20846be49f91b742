package trainer

import (
	"errors"
	"math"
	"testing"

	"github.com/xraylab/xray/internal/approx"
)

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
