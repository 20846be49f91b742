package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/trainer"
)

// presetFlags is a preset's settings (trainer.PresetConfig) as the flags that set them:
// each setting where the preset differs from the paper's DefaultConfig, in the flag's
// words. applyPreset sets them on the flags the command line (or XRAY_<FLAG>) left alone.
func presetFlags(cfg trainer.Config) [][2]string {
	def := trainer.DefaultConfig()
	var out [][2]string
	add := func(flag string, v, d any) {
		if v != d {
			out = append(out, [2]string{flag, fmt.Sprint(v)})
		}
	}
	add("batch-size", cfg.BatchSize, def.BatchSize)
	add("lr", cfg.LearningRate, def.LearningRate)
	add("momentum", cfg.Momentum, def.Momentum)
	add("epochs", cfg.Epochs, def.Epochs)
	add("optimizer", cfg.Optimizer, def.Optimizer)
	add("weight-decay", cfg.WeightDecay, def.WeightDecay)
	add("lr-schedule", cfg.LRSchedule, def.LRSchedule)
	add("warmup-epochs", cfg.WarmupEpochs, def.WarmupEpochs)
	add("class-weight", cfg.ClassWeight, def.ClassWeight)
	add("label-smoothing", cfg.LabelSmoothing, def.LabelSmoothing)
	add("monitor", cfg.Monitor, def.Monitor)
	if a, d := cfg.Augment, loader.DefaultAugment(); a.On() {
		out = append(out, [2]string{"augment", "true"})
		add("augment-rotation", a.Rotation, d.Rotation)
		add("augment-translate", a.Translate, d.Translate)
		add("augment-zoom", a.Zoom, d.Zoom)
		add("augment-brightness", a.Brightness, d.Brightness)
		add("augment-contrast", a.Contrast, d.Contrast)
	}
	return out
}

func presetNames() []string { return trainer.Presets() }

func presetFlag() cli.Flag {
	return &cli.StringFlag{Name: "preset", Value: "paper", Usage: "named recipe: " + strings.Join(presetNames(), " or ") +
		" (flags given explicitly override its values; see README)", EnvVars: env("PRESET")}
}

// applyPreset sets the chosen preset's values on the flags the user left alone.
func applyPreset(c *cli.Context) error {
	name := c.String("preset")
	cfg, err := trainer.PresetConfig(name)
	if err != nil {
		return usagef("--preset %q: use %s", name, strings.Join(presetNames(), " or "))
	}
	for _, kv := range presetFlags(cfg) {
		if c.IsSet(kv[0]) {
			continue
		}
		if err := c.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("preset %s: set %s=%s: %w", name, kv[0], kv[1], err)
		}
	}
	return nil
}
