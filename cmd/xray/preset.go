package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// presets are xray train's named recipes: flag values applied before the run unless the
// command line (or XRAY_<FLAG>) sets the flag itself. paper sets nothing: the defaults are
// the paper's. robust is the recipe docs/recipe.md measured against paper; README.md lists
// every value. Order matters only for the listing.
var presets = map[string][][2]string{
	"paper": nil,
	"robust": {
		{"batch-size", "16"},
		{"lr", "0.01"},
		{"momentum", "0.9"},
		{"epochs", "10"},
		{"augment", "true"},
		{"augment-brightness", "0.05"}, // the default 0.2 hides the lungs' opacity: no learning in 3 epochs
		{"augment-contrast", "0.1"},
		{"class-weight", "balanced"},
		{"lr-schedule", "cosine"},
		{"monitor", "val_auc"},
	},
}

func presetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func presetFlag() cli.Flag {
	return &cli.StringFlag{Name: "preset", Value: "paper", Usage: "named recipe: " + strings.Join(presetNames(), " or ") +
		" (flags given explicitly override its values; see README)", EnvVars: env("PRESET")}
}

// applyPreset sets the chosen preset's values on the flags the user left alone.
func applyPreset(c *cli.Context) error {
	name := c.String("preset")
	values, ok := presets[name]
	if !ok {
		return usagef("--preset %q: use %s", name, strings.Join(presetNames(), " or "))
	}
	for _, kv := range values {
		if c.IsSet(kv[0]) {
			continue
		}
		if err := c.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("preset %s: set %s=%s: %w", name, kv[0], kv[1], err)
		}
	}
	return nil
}
