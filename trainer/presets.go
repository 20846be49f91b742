package trainer

import (
	"fmt"
	"strings"

	"github.com/xraylab/xray/dataset/loader"
)

// Preset names: the named recipes a run can start from (Config.Preset records which).
const (
	PresetPaper  = "paper"  // DefaultConfig: the paper's recipe
	PresetRobust = "robust" // Robust: the recipe docs/recipe.md measured against the paper's
)

// Presets lists the preset names, in the order docs list them.
func Presets() []string { return []string{PresetPaper, PresetRobust} }

// Robust is the recipe docs/recipe.md measured against the paper's: SGD with momentum 0.9
// at lr 0.01 on batches of 16 for 10 epochs, a cosine schedule, balanced class weights,
// augmentation with gentle brightness (0.05: the default 0.2 hides the lungs' opacity, no
// learning in 3 epochs) and contrast (0.1), and the best epoch by validation AUC. The
// rest is DefaultConfig's.
func Robust() Config {
	c := DefaultConfig()
	c.Preset = PresetRobust
	c.BatchSize, c.LearningRate, c.Momentum, c.Epochs = 16, 0.01, 0.9, 10
	c.Augment = loader.DefaultAugment()
	c.Augment.Brightness, c.Augment.Contrast = 0.05, 0.1
	c.ClassWeight, c.LRSchedule, c.Monitor = ClassWeightBalanced, ScheduleCosine, MonitorValAUC
	return c
}

// PresetConfig is the named preset's Config (Presets lists the names); an unknown name
// is a *ConfigError for the Preset field.
func PresetConfig(name string) (Config, error) {
	switch name {
	case PresetPaper:
		c := DefaultConfig()
		c.Preset = PresetPaper
		return c, nil
	case PresetRobust:
		return Robust(), nil
	}
	return Config{}, &ConfigError{Field: "Preset", Value: name, Reason: fmt.Sprintf("is not a preset: use %s", strings.Join(Presets(), " or "))}
}
