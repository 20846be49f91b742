package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/predictstream"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
)

// predictSource is what predict reads: its arguments, or --input's directory, glob or
// list, checked before the model loads.
func predictSource(c *cli.Context) (predictstream.Source, error) {
	input := c.String("input")
	switch {
	case input == "" && c.NArg() == 0:
		return nil, usagef("predict needs IMAGE files, or --input DIR|GLOB|LIST.txt")
	case input != "" && c.NArg() > 0:
		return nil, usagef("predict takes IMAGE arguments or --input %s, not both", input)
	case c.Bool("resume") && c.String("out") == "":
		return nil, usagef("--resume needs --out FILE (the file to continue)")
	case input == "":
		return predictstream.Paths(c.Args().Slice()), nil
	}
	src, err := predictstream.Input(input)
	if errors.Is(err, predictstream.ErrNoInput) {
		return nil, usagef("--input: %v", err)
	}
	return src, err
}

// predictToFile streams the predictions into --out, resuming it with --resume, with a
// progress bar (count, rate, ETA) when stderr is a terminal.
func predictToFile(c *cli.Context, model *savedmodels.Model, src predictstream.Source) error {
	path := c.String("out")
	out, err := predictstream.OpenOutput(path, c.Bool("resume"))
	if errors.Is(err, predictstream.ErrExists) {
		return usagef("--out %s already holds predictions: add --resume to continue it, or remove it", path)
	}
	if err != nil {
		return err
	}
	defer out.Close()
	if n := out.Resumed(); n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "xray: resuming %s: %d files already done\n", path, n)
	}
	bar := newPredictBar(progressWriter(c.App.ErrWriter), src, c.String("input"), out.Resumed())
	warner := &dicomWarner{w: c.App.ErrWriter, window: model.Preprocessor().Window}
	err = predictstream.Run(c.Context, model, src, predictstream.Options{Batch: c.Int("batch"), Skip: out.Done}, func(lines []filePrediction) error {
		if err := out.Write(lines); err != nil {
			return err
		}
		for _, p := range lines {
			warner.warn(p)
		}
		bar.Add(len(lines))
		return nil
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	lines, failed := out.Counts()
	summary := fmt.Sprintf("xray: %s holds %d files: %d predicted, %d errors", path, lines, lines-failed, failed)
	if s := warner.summary(); s != "" {
		summary += "; this run: " + s
	}
	fmt.Fprintln(c.App.ErrWriter, summary)
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be predicted (see their error lines in %s)", failed, lines, path)
	}
	return nil
}

// newPredictBar shows files done, rate and ETA on w (nil: silent). The total is counted
// by a second, concurrent pass over the source (not for standard input): until it is
// known the bar shows the count and rate only.
func newPredictBar(w io.Writer, src predictstream.Source, input string, resumed int) *progressbar.ProgressBar {
	if w == nil {
		w = io.Discard
	}
	bar := newBar(w, progress.Event{Task: "predict", Unit: "img"})
	if w != io.Discard && input != "-" {
		go func() { bar.ChangeMax(max(predictstream.Count(src)-resumed, 0)) }()
	}
	return bar
}
