package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/perturb"
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
	out := c.String("out")
	if out == "" {
		out = filepath.Join(filepath.Dir(filepath.Clean(dir)), "eval-"+split)
	}
	logDevice(c.App.ErrWriter, "evaluating under shift")
	rep, err := evaluator.Shift(c.Context, evaluator.ShiftInput{
		SavedModelInput: evaluator.SavedModelInput{SavedModel: dir, Data: c.String("data"), Manifest: c.String("manifest"), Split: split,
			Progress: progressBar(c.App.ErrWriter), DICOMWindow: window},
		Perturbations: perts,
	})
	if err != nil {
		return err
	}
	if err := evaluator.WriteShift(out, rep); err != nil {
		return err
	}
	fmt.Fprint(c.App.Writer, rep.Markdown())
	files := []string{evaluator.ShiftMarkdownFile, evaluator.ShiftCSVFile, evaluator.ShiftJSONFile, evaluator.ShiftPlotFile}
	fmt.Fprintf(c.App.ErrWriter, "xray: wrote %s in %s\n", strings.Join(files, ", "), out)
	return nil
}
