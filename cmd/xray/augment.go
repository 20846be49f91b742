package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/dataset/loader"
)

// augmentFlags are --augment and its ranges, shared by train and dataset preview.
func augmentFlags() []cli.Flag {
	d := loader.DefaultAugment()
	return []cli.Flag{
		&cli.BoolFlag{Name: "augment", Usage: "augment training batches (rotation, shift, zoom, brightness, contrast; never validation, test or serving)", EnvVars: env("AUGMENT")},
		&cli.Float64Flag{Name: "augment-rotation", Value: d.Rotation, Usage: "with --augment: rotate by up to ± `DEGREES`", EnvVars: env("AUGMENT_ROTATION")},
		&cli.Float64Flag{Name: "augment-translate", Value: d.Translate, Usage: "with --augment: shift each axis by up to ± `F` of the side", EnvVars: env("AUGMENT_TRANSLATE")},
		&cli.Float64Flag{Name: "augment-zoom", Value: d.Zoom, Usage: "with --augment: zoom by a factor in [1-`F`, 1+F]", EnvVars: env("AUGMENT_ZOOM")},
		&cli.Float64Flag{Name: "augment-brightness", Value: d.Brightness, Usage: "with --augment: add up to ± `F` of the pixel range", EnvVars: env("AUGMENT_BRIGHTNESS")},
		&cli.Float64Flag{Name: "augment-contrast", Value: d.Contrast, Usage: "with --augment: scale contrast by a factor in [1-`F`, 1+F]", EnvVars: env("AUGMENT_CONTRAST")},
	}
}

// augmentFromFlags is the augmentation the flags ask for: off without --augment.
func augmentFromFlags(c *cli.Context) (loader.Augment, error) {
	if !c.Bool("augment") {
		for _, f := range []string{"rotation", "translate", "zoom", "brightness", "contrast"} {
			if c.IsSet("augment-" + f) {
				return loader.Augment{}, usagef("--augment-%s applies with --augment: add --augment", f)
			}
		}
		return loader.Augment{}, nil
	}
	a := loader.Augment{Rotation: c.Float64("augment-rotation"), Translate: c.Float64("augment-translate"),
		Zoom: c.Float64("augment-zoom"), Brightness: c.Float64("augment-brightness"), Contrast: c.Float64("augment-contrast")}
	if err := a.Validate(); err != nil {
		return a, augmentUsage(err)
	}
	return a, nil
}

// augmentUsage names the flag behind an augmentation range error.
func augmentUsage(err error) error {
	var re *loader.AugmentRangeError
	if errors.As(err, &re) {
		return usagef("--augment-%s %v: use %v to %v%s", re.Field, re.Value, re.Min, re.Max, re.Unit)
	}
	return err
}

// augmentSummary is a one-line description of a for logs.
func augmentSummary(a loader.Augment) string {
	if !a.On() {
		return "off"
	}
	return fmt.Sprintf("rotation ±%g°, translate ±%g, zoom ±%g, brightness ±%g, contrast ±%g",
		a.Rotation, a.Translate, a.Zoom, a.Brightness, a.Contrast)
}
