package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/errorspage"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/evaluator/shift"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/adapt"
)

// savedModelInput is what running a SavedModel over a dataset split needs.
type savedModelInput struct {
	SavedModel string        // SavedModel directory
	Data       string        // dataset root
	Manifest   string        // split manifest CSV; "" means the dataset's default
	Split      string        // split to run, e.g. "test", or "all"
	Threshold  bool          // the thresholded decision is asked for: fail early without one
	Progress   io.Writer     // where the progress bar and warnings go (stderr)
	Window     *dicom.Window // nil: the model's
}

// runSavedModel runs a SavedModel over a split and returns one record per image (paths
// as in the manifest, relative to the data root) and the model's metadata (architecture,
// operating threshold). Tests replace it to feed records without a model.
var runSavedModel = func(ctx context.Context, in savedModelInput) ([]evaluator.Record, savedmodels.Metadata, error) {
	logDevice(in.Progress, "evaluating")
	return predict.Split(ctx, predict.Input{
		SavedModel: in.SavedModel, Data: in.Data, Manifest: in.Manifest, Split: in.Split,
		Progress: progressBar(in.Progress), Logger: progress.Lines(in.Progress, "xray: "), RequireThreshold: in.Threshold,
		DICOMWindow: in.Window,
	})
}

func init() {
	register(&cli.Command{
		Name:  "evaluate",
		Usage: "evaluate a model on a split: confusion matrix, classification report, Table 1 row, ROC, plots",
		UsageText: "xray evaluate --savedmodel DIR --data DIR [--manifest FILE] [--split test|val|train|all] [--decision argmax|threshold] [--out DIR] [--json]\n" +
			"xray evaluate --predictions FILE.csv [--out DIR] [--json]\n\n" +
			"--split all evaluates every image of --data, a Kaggle or plain {NORMAL,PNEUMONIA}/ tree,\n" +
			"without a manifest (an external test set; labels from the class folders).\n" +
			"metrics.json and report.md hold the paper's argmax decision and, when the model stores\n" +
			"an operating threshold (xray train --threshold), the thresholded one; --decision threshold\n" +
			"makes the latter the one of the confusion matrix, classification report and Table 1.\n" +
			"Writes predictions.csv, metrics.json, report.md, confusion.png, roc.png and calibration.png into --out\n" +
			"(default: RUN_DIR/eval-<split> beside the SavedModel, or the predictions file's directory)\n" +
			"and prints the report. Predictions are the argmax of (p_normal, p_pneumonia), ties to normal.\n\n" +
			"Examples:\n" +
			"   xray evaluate --savedmodel runs/mobilenet/savedmodel --data data/chest_xray\n" +
			"   xray evaluate --savedmodel runs/mobilenet/savedmodel --data external/ --split all --decision threshold\n" +
			"   xray evaluate --predictions runs/mobilenet/eval-test/predictions.csv --json\n" +
			"   xray evaluate --savedmodel runs/mobilenet/savedmodel --data data/chest_xray --shift --perturbations blur,jpeg-3\n" +
			"   xray evaluate --savedmodel runs/mobilenet/savedmodel --shift --adapt-split val --adapt-mode batch\n\n" +
			"--shift evaluates the split as it is and under each perturbation (docs/shift.md): contrast,\n" +
			"brightness, gamma, blur, noise, JPEG quality and lower resolution at severities 1-3, applied to\n" +
			"each decoded image before the model's preprocessing; writes shift.md, shift.csv, shift.json and\n" +
			"shift.png (accuracy, specificity, ROC AUC against severity) into --out and prints the table.\n" +
			"--adapt-split NAME adds, per row, the model adapted to that variant (xray adapt, labels unused) on\n" +
			"--adapt-images of that split of the manifest perturbed alike, beside the unadapted numbers\n" +
			"(default --out: RUN_DIR/eval-<split>-adapted-<mode>).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR` to run over the split", EnvVars: []string{"XRAY_SAVEDMODEL"}},
			&cli.StringFlag{Name: "data", Usage: "dataset root `DIR` (with --savedmodel)", EnvVars: []string{"XRAY_DATA"}},
			&cli.StringFlag{Name: "manifest", Usage: "split manifest `FILE` (with --savedmodel; default: the dataset's)", EnvVars: []string{"XRAY_MANIFEST"}},
			&cli.StringFlag{Name: "split", Value: "test", Usage: "`NAME` of the split to evaluate (test, val, train; all: every image of --data, no manifest needed)", EnvVars: []string{"XRAY_SPLIT"}},
			&cli.StringFlag{Name: "decision", Value: "argmax", Usage: "primary decision `RULE`: argmax (the paper's) or threshold (the model's operating threshold)", EnvVars: []string{"XRAY_DECISION"}},
			&cli.StringFlag{Name: "predictions", Usage: "recompute everything from a predictions `FILE.csv` (path,label,[predicted,]p_normal,p_pneumonia)", EnvVars: []string{"XRAY_PREDICTIONS"}},
			&cli.StringFlag{Name: "out", Usage: "output `DIR`", EnvVars: []string{"XRAY_OUT"}},
			&cli.StringFlag{Name: "model", Usage: "architecture `ARCH` recorded in metrics.json (default: the SavedModel's, or run.json's \"arch\")", EnvVars: []string{"XRAY_MODEL"}},
			&cli.BoolFlag{Name: "json", Usage: "print metrics.json instead of the report", EnvVars: []string{"XRAY_JSON"}},
			&cli.BoolFlag{Name: "shift", Usage: "the shift report instead: the split clean and under perturbations imitating another scanner (shift.md, shift.csv, shift.json, shift.png)", EnvVars: []string{"XRAY_SHIFT"}},
			&cli.StringFlag{Name: "perturbations", Value: "all", Usage: "with --shift: `LIST` of perturbations (contrast, brightness, gamma, blur, noise, jpeg, resolution; NAME-LEVEL for one level 1-3; all)", EnvVars: []string{"XRAY_PERTURBATIONS"}},
			&cli.StringFlag{Name: "adapt-split", Usage: "with --shift: also score each variant with the model adapted (xray adapt) on this `NAME`d split of the manifest, perturbed alike (not the evaluated split)", EnvVars: []string{"XRAY_ADAPT_SPLIT"}},
			&cli.StringFlag{Name: "adapt-mode", Value: adapt.Layerwise, Usage: "with --adapt-split: `MODE` layerwise or batch, as xray adapt --mode", EnvVars: []string{"XRAY_ADAPT_MODE"}},
			&cli.IntFlag{Name: "adapt-images", Value: shift.DefaultAdaptImages, Usage: fmt.Sprintf("with --adapt-split: adapt on at most `N` of its images, a fixed sample (at least %d)", adapt.MinImages), EnvVars: []string{"XRAY_ADAPT_IMAGES"}},
			modelWindowFlag(),
		},
		Action: evaluateAction,
	})
}

// parseDecision reads --decision: true for the thresholded decision.
func parseDecision(s string) (bool, error) {
	switch s {
	case "argmax":
		return false, nil
	case "threshold":
		return true, nil
	}
	return false, usagef("--decision %q: use argmax or threshold", s)
}

func evaluateAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("evaluate takes no arguments, got %q", c.Args().First())
	}
	savedModel, predictions := c.String("savedmodel"), c.String("predictions")
	switch {
	case savedModel != "" && predictions != "":
		return usagef("evaluate: give --savedmodel or --predictions, not both")
	case savedModel == "" && predictions == "":
		return usagef("evaluate: give --savedmodel DIR [--data DIR --manifest FILE], or --predictions FILE.csv")
	}
	byThreshold, err := parseDecision(c.String("decision"))
	if err != nil {
		return err
	}
	if c.Bool("shift") {
		return shiftAction(c)
	}
	for _, f := range []string{"adapt-split", "adapt-mode", "adapt-images"} {
		if c.IsSet(f) {
			return usagef("--%s goes with --shift (the shift report adapted to each variant)", f)
		}
	}
	if c.String("split") == predict.AllImages && savedModel != "" && c.String("data") == "" && c.String("manifest") == "" {
		return usagef("evaluate: --split all needs --data DIR (the folder whose images to evaluate)")
	}
	cfg := evaluator.Config{
		Predictions: predictions,
		Out:         c.String("out"),
		Options:     evaluator.Options{Model: c.String("model"), Split: c.String("split"), ByThreshold: byThreshold},
	}
	window, err := modelWindow(c)
	if err != nil {
		return err
	}
	in := predict.Input{SavedModel: savedModel, Data: c.String("data"), Manifest: c.String("manifest"), Split: cfg.Split, DICOMWindow: window}
	if savedModel != "" {
		if err := recordSavedModel(c, &cfg, in, byThreshold); err != nil {
			return err
		}
	}
	rep, err := evaluator.Run(cfg)
	if errors.Is(err, evaluator.ErrNoThreshold) {
		return fmt.Errorf("%w (--decision argmax)", err)
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		js, err := rep.Metrics.JSON()
		if err != nil {
			return err
		}
		_, err = c.App.Writer.Write(js)
		return err
	}
	fmt.Fprint(c.App.Writer, rep.Markdown())
	files := []string{evaluator.PredictionsFile, evaluator.MetricsFile, evaluator.ReportFile, evaluator.ConfusionFile, evaluator.ROCFile, evaluator.CalibrationFile}
	if rep.Metrics.MultiClass != nil {
		files = append(files, evaluator.ClassesConfusionFile)
	}
	fmt.Fprintf(c.App.ErrWriter, "xray: wrote %s in %s\n", strings.Join(files, ", "), cfg.OutDir())
	if savedModel != "" {
		writeErrorsPage(c, cfg, in)
	}
	return nil
}

// recordSavedModel runs the SavedModel over the split into cfg's records, taking the
// architecture and operating threshold from its metadata and, unless --out is given,
// writing beside it (eval-SPLIT).
func recordSavedModel(c *cli.Context, cfg *evaluator.Config, in predict.Input, byThreshold bool) error {
	recs, meta, err := runSavedModel(c.Context, savedModelInput{
		SavedModel: in.SavedModel, Data: in.Data, Manifest: in.Manifest,
		Split: in.Split, Progress: c.App.ErrWriter, Threshold: byThreshold, Window: in.DICOMWindow,
	})
	if errors.Is(err, evaluator.ErrNoThreshold) {
		return fmt.Errorf("%w (--decision argmax)", err)
	}
	if err != nil {
		return err
	}
	cfg.Records, cfg.Source, cfg.Threshold = recs, in.SavedModel, meta.Threshold
	if cfg.Model == "" {
		cfg.Model = meta.Arch
	}
	if cfg.Out == "" {
		cfg.Out = filepath.Join(filepath.Dir(filepath.Clean(in.SavedModel)), "eval-"+in.Split)
	}
	return nil
}

// writeErrorsPage adds errors.html (the misclassified images with their Grad-CAM
// overlays) to the evaluation; the report stands without it, so a failure is a warning.
func writeErrorsPage(c *cli.Context, cfg evaluator.Config, in predict.Input) {
	err := errorspage.Write(c.Context, cfg.OutDir(), errorspage.Input{
		Input: in, Records: cfg.Records, Threshold: cfg.Threshold, ByThreshold: cfg.ByThreshold})
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "xray: warning: no %s: %s\n", errorspage.File, oneLine(cliError(err).Error()))
		return
	}
	fmt.Fprintf(c.App.ErrWriter, "xray: wrote %s in %s\n", errorspage.File, cfg.OutDir())
}
