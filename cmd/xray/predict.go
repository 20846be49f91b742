package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/savedmodels"
)

func init() {
	register(&cli.Command{
		Name:  "predict",
		Usage: "classify chest X-ray images with an exported SavedModel",
		UsageText: "xray predict --savedmodel DIR [--json] [--batch N] [--decision argmax|threshold] IMAGE...\n\n" +
			"Prints one line per image, in the order given: FILE<TAB>CLASS<TAB>PROBABILITY (of that\n" +
			"class), or FILE<TAB>error<TAB>MESSAGE. CLASS is the paper's argmax, or with --decision\n" +
			"threshold the class by the model's operating threshold (pneumonia when p_pneumonia >= it;\n" +
			"xray train chooses it on the validation split). With --json, one JSON object per line\n" +
			"(JSON Lines): {\"file\", \"class\", \"class_id\", \"probability\", \"probabilities\":\n" +
			"[p_normal, p_pneumonia], \"decision_id\"} (class by argmax, decision_id by threshold) or\n" +
			"{\"file\", \"error\"}. Images that fail do not stop the others; the exit status is then 1.\n\n" +
			"Examples:\n" +
			"   xray predict --savedmodel runs/mobilenet/savedmodel chest_xray/test/PNEUMONIA/*.jpeg\n" +
			"   xray predict --savedmodel runs/mobilenet/savedmodel --json scan.png | jq .probability",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR` (the directory holding saved_model.pb)", EnvVars: []string{"XRAY_SAVEDMODEL"}},
			&cli.BoolFlag{Name: "json", Usage: "print JSON Lines instead of tab-separated text", EnvVars: []string{"XRAY_JSON"}},
			&cli.StringFlag{Name: "decision", Value: "argmax", Usage: "text output's class `RULE`: argmax (the paper's) or threshold (the model's operating threshold)", EnvVars: []string{"XRAY_DECISION"}},
			&cli.IntFlag{Name: "batch", Value: savedmodels.DefaultMaxBatch, Usage: "images per session run (`N`)", EnvVars: []string{"XRAY_BATCH"}},
		},
		Action: predictAction,
	})
}

func predictAction(c *cli.Context) error {
	dir := c.String("savedmodel")
	if dir == "" {
		return usagef("predict needs --savedmodel DIR")
	}
	if c.NArg() == 0 {
		return usagef("predict needs at least one IMAGE file")
	}
	if c.Int("batch") < 1 {
		return usagef("--batch %d: give 1 or more", c.Int("batch"))
	}
	byThreshold, err := parseDecision(c.String("decision"))
	if err != nil {
		return err
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{MaxBatch: c.Int("batch")})
	if err != nil {
		return err
	}
	defer model.Close()
	logDevice(c.App.ErrWriter, "predicting")
	meta := model.Metadata()
	if byThreshold && (meta.Threshold == nil || meta.Threshold.IsArgmax()) {
		return fmt.Errorf("predict: %s: %w (--decision argmax)", dir, evaluator.ErrNoThreshold)
	}

	out := c.App.Writer
	enc := json.NewEncoder(out)
	failed := 0
	err = predictFiles(c.Context, model, c.Args().Slice(), c.Int("batch"), func(p filePrediction) error {
		if p.Err != nil {
			failed++
		}
		switch {
		case c.Bool("json"):
			return enc.Encode(p)
		case p.Err != nil:
			_, err := fmt.Fprintf(out, "%s\terror\t%s\n", p.File, oneLine(p.message()))
			return err
		default:
			class := p.Class
			if byThreshold {
				class = p.Decision
			}
			_, err := fmt.Fprintf(out, "%s\t%s\t%.4f\n", p.File, meta.Classes[class], p.Probabilities[class])
			return err
		}
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be predicted (see their error lines)", failed, c.NArg())
	}
	return nil
}
