package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/predictstream"
	"github.com/xraylab/xray/savedmodels"
)

func init() {
	register(&cli.Command{
		Name:  "predict",
		Usage: "classify chest X-ray images with an exported SavedModel",
		UsageText: "xray predict --savedmodel DIR [--json] [--batch N] [--decision argmax|threshold] IMAGE...\n" +
			"   xray predict --savedmodel DIR --input DIR|GLOB|LIST.txt|- [--out FILE.jsonl [--resume]]\n\n" +
			"Prints one line per image, in the order given: FILE<TAB>CLASS<TAB>PROBABILITY (of that\n" +
			"class), or FILE<TAB>error<TAB>MESSAGE. CLASS is the paper's argmax, or with --decision\n" +
			"threshold the class by the model's operating threshold (pneumonia when p_pneumonia >= it;\n" +
			"xray train chooses it on the validation split). With --json, one JSON object per line\n" +
			"(JSON Lines): {\"file\", \"class\", \"class_id\", \"probability\", \"probabilities\":\n" +
			"[p_normal, p_pneumonia], \"decision_id\"} (class by argmax, decision_id by threshold) or\n" +
			"{\"file\", \"error\"}. Images that fail do not stop the others; the exit status is then 1.\n" +
			"DICOM files are read too (decoded in Go; --dicom-window): the JSON adds their \"sop_instance_uid\"\n" +
			"and \"view_position\" (never patient data); a lateral view or a multi-frame file gets a warning.\n\n" +
			"Archives: --input streams the files of a directory (walked; .jpeg .jpg .png .dcm), a glob or a\n" +
			"list file (one path per line; - reads it from standard input) instead of arguments, a\n" +
			"batch at a time in bounded memory. --out appends JSON Lines to a file, fsync'd per batch,\n" +
			"with a progress bar on a terminal; --resume continues a file a killed run left, skipping\n" +
			"the files it holds (error lines included) and dropping a torn last line.\n\n" +
			"Examples:\n" +
			"   xray predict --savedmodel runs/mobilenet/savedmodel chest_xray/test/PNEUMONIA/*.jpeg\n" +
			"   xray predict --savedmodel runs/mobilenet/savedmodel --json scan.png | jq .probability\n" +
			"   xray predict --savedmodel runs/mobilenet/savedmodel --input archive/ --out preds.jsonl --resume",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR` (the directory holding saved_model.pb)", EnvVars: []string{"XRAY_SAVEDMODEL"}},
			&cli.BoolFlag{Name: "json", Usage: "print JSON Lines instead of tab-separated text", EnvVars: []string{"XRAY_JSON"}},
			&cli.StringFlag{Name: "decision", Value: "argmax", Usage: "text output's class `RULE`: argmax (the paper's) or threshold (the model's operating threshold)", EnvVars: []string{"XRAY_DECISION"}},
			&cli.IntFlag{Name: "batch", Value: savedmodels.DefaultMaxBatch, Usage: "images per session run (`N`)", EnvVars: []string{"XRAY_BATCH"}},
			&cli.StringFlag{Name: "input", Usage: "predict the images of a `DIR`, GLOB or LIST.txt (one path per line; - for standard input) instead of arguments", EnvVars: []string{"XRAY_INPUT"}},
			&cli.StringFlag{Name: "out", Usage: "append JSON Lines to `FILE` (fsync'd per batch) instead of printing", EnvVars: []string{"XRAY_OUT"}},
			&cli.BoolFlag{Name: "resume", Usage: "continue the --out file of an interrupted run, skipping the files it holds", EnvVars: []string{"XRAY_RESUME"}},
			modelWindowFlag(),
			jitFlag(),
		},
		Action: predictAction,
	})
}

func predictAction(c *cli.Context) error {
	dir := c.String("savedmodel")
	if dir == "" {
		return usagef("predict needs --savedmodel DIR")
	}
	src, err := predictSource(c)
	if err != nil {
		return err
	}
	if c.Int("batch") < 1 {
		return usagef("--batch %d: give 1 or more", c.Int("batch"))
	}
	byThreshold, err := parseDecision(c.String("decision"))
	if err != nil {
		return err
	}
	window, err := modelWindow(c)
	if err != nil {
		return err
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{MaxBatch: c.Int("batch"), DICOMWindow: window, JIT: c.Bool("jit")})
	if err != nil {
		return err
	}
	defer model.Close()
	logDevice(c.App.ErrWriter, "predicting")
	meta := model.Metadata()
	if byThreshold && (meta.Threshold == nil || meta.Threshold.IsArgmax()) {
		return fmt.Errorf("predict: %s: %w (--decision argmax)", dir, evaluator.ErrNoThreshold)
	}

	if c.String("out") != "" {
		return predictToFile(c, model, src)
	}
	out := c.App.Writer
	enc := json.NewEncoder(out)
	failed, n := 0, 0
	warner := &dicomWarner{w: c.App.ErrWriter, window: model.Preprocessor().Window}
	err = predictstream.Run(c.Context, model, src, predictstream.Options{Batch: c.Int("batch")}, func(lines []filePrediction) error {
		for _, p := range lines {
			n++
			if p.Err != nil {
				failed++
			}
			warner.warn(p)
			if err := printPrediction(out, enc, p, c.Bool("json"), byThreshold, meta.Classes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s := warner.summary(); s != "" {
		fmt.Fprintf(c.App.ErrWriter, "xray: %d files: %s\n", n, s)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be predicted (see their error lines)", failed, n)
	}
	return nil
}

// printPrediction writes p as a JSON line (asJSON) or as FILE<TAB>CLASS<TAB>PROBABILITY.
func printPrediction(out io.Writer, enc *json.Encoder, p filePrediction, asJSON, byThreshold bool, classes []string) error {
	switch {
	case asJSON:
		return enc.Encode(p)
	case p.Err != nil:
		_, err := fmt.Fprintf(out, "%s\terror\t%s\n", p.File, oneLine(p.Message()))
		return err
	default:
		class := p.Class
		if byThreshold {
			class = p.Decision
		}
		_, err := fmt.Fprintf(out, "%s\t%s\t%.4f\n", p.File, classes[class], p.Probabilities[class])
		return err
	}
}
