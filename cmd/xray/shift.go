package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/evaluator/shift"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/savedmodels/adapt"
	"github.com/xraylab/xray/tfgraph"
)

// shiftAction is xray evaluate --shift: the split clean and under perturbations.
func shiftAction(c *cli.Context) error {
	dir := c.String("savedmodel")
	if dir == "" {
		return usagef("evaluate --shift needs --savedmodel DIR (it runs the model on perturbed images)")
	}
	perts, err := perturb.Parse(c.String("perturbations"))
	if errors.Is(err, perturb.ErrUnknown) {
		return usagef("--perturbations: %s", err)
	}
	if err != nil {
		return err
	}
	window, err := modelWindow(c)
	if err != nil {
		return err
	}
	split := c.String("split")
	adapt, err := shiftAdapt(c)
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		name := "eval-" + split
		if adapt != nil {
			name += "-adapted-" + adapt.Mode
		}
		out = filepath.Join(filepath.Dir(filepath.Clean(dir)), name)
	}
	logDevice(c.App.ErrWriter, "evaluating under shift")
	rep, err := shift.Run(c.Context, shift.Input{
		Input: predict.Input{SavedModel: dir, Data: c.String("data"), Manifest: c.String("manifest"), Split: split,
			Progress: progressBar(c.App.ErrWriter), DICOMWindow: window},
		Perturbations: perts,
		Adapt:         adapt,
	})
	if err != nil {
		return shiftError(err)
	}
	if err := shift.Write(out, rep); err != nil {
		return err
	}
	fmt.Fprint(c.App.Writer, rep.Markdown())
	files := []string{shift.MarkdownFile, shift.CSVFile, shift.JSONFile, shift.PlotFile}
	fmt.Fprintf(c.App.ErrWriter, "xray: wrote %s in %s\n", strings.Join(files, ", "), out)
	return nil
}

// shiftAdapt is --adapt-split's adaptation, nil without it.
func shiftAdapt(c *cli.Context) (*shift.Adapt, error) {
	if c.String("adapt-split") == "" {
		for _, f := range []string{"adapt-mode", "adapt-images"} {
			if c.IsSet(f) {
				return nil, usagef("--%s goes with --adapt-split NAME (the split to adapt on)", f)
			}
		}
		return nil, nil
	}
	return &shift.Adapt{Split: c.String("adapt-split"), Mode: c.String("adapt-mode"), Images: c.Int("adapt-images")}, nil
}

// shiftError names the flag that fixes an adapted shift report's error.
func shiftError(err error) error {
	var ce *tfgraph.ConfigError
	if errors.As(err, &ce) {
		if _, ok := shiftFlagFor[ce.Field]; ok {
			return configUsage(err, ce, shiftFlagFor)
		}
	}
	switch {
	case errors.Is(err, adapt.ErrTooFewImages):
		return fmt.Errorf("%w: choose a larger --adapt-split", err)
	case errors.Is(err, adapt.ErrNoBatchNorm):
		return fmt.Errorf("%w: leave out --adapt-split for this model", err)
	}
	return err
}
