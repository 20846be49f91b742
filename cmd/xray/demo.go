package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/trainer"
)

func init() {
	register(&cli.Command{
		Name:  "demo",
		Usage: "train MobileNet briefly on the embedded X-ray sample, export it and evaluate it (CPU, no network, a few minutes)",
		UsageText: "xray demo [--out DIR]\n\nExample:\n   xray demo --out runs/demo\n\n" +
			"Runs the whole pipeline on the 161-image sample built into the binary (Kermany et al. 2018, CC BY 4.0):\n" +
			"split -> train -> SavedModel -> evaluate on the test split, then prints the report and where the\n" +
			"curves and the confusion matrix are. Any previous demo run in --out is replaced.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Value: filepath.Join("runs", "demo"), Usage: "run `DIR` (replaced if it holds an earlier demo)", EnvVars: env("DEMO_OUT")},
			&cli.IntFlag{Name: "epochs", Value: trainer.DemoConfig("", "").Epochs, Usage: "training epochs", EnvVars: env("DEMO_EPOCHS")},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bars", EnvVars: env("QUIET")},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("demo takes no arguments, got %q", c.Args().First())
			}
			out := c.String("out")
			if err := resetDemoDir(out); err != nil {
				return err
			}
			data, err := xray.ExtractSample(filepath.Join(out, "data"))
			if err != nil {
				return fmt.Errorf("demo: extract the embedded sample: %w", err)
			}
			cfg := trainer.DemoConfig(data, out)
			cfg.Epochs, cfg.Quiet = c.Int("epochs"), c.Bool("quiet")
			if !cfg.Quiet {
				cfg.Progress = progressBar(c.App.ErrWriter)
			}
			if cfg.Epochs < 1 {
				return usagef("--epochs %d: must be at least 1", cfg.Epochs)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "xray demo: MobileNet + the paper's head at %d x %d, %d epochs, batch %d, SGD lr %g momentum %g, on %s\n\n",
				cfg.InputSize, cfg.InputSize, cfg.Epochs, cfg.BatchSize, cfg.LearningRate, cfg.Momentum, data)
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Logger = progress.Lines(w, "")
			res, err := trainer.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if res.Interrupted {
				return cli.Exit("xray: demo interrupted", 130)
			}
			recs, meta, err := predict.Split(ctx, predict.Input{SavedModel: res.SavedModel, Split: "test", Progress: progressBar(c.App.ErrWriter)})
			if err != nil {
				return err
			}
			evalDir := filepath.Join(out, "eval-test")
			rep, err := evaluator.Run(evaluator.Config{Records: recs, Out: evalDir,
				Options: evaluator.Options{Model: meta.Arch, Split: "test", Source: res.SavedModel, Threshold: meta.Threshold}})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\n%s\n", rep.Markdown())
			fmt.Fprintf(w, "Demo finished in %s. Look at:\n", res.Duration.Round(1e9))
			for _, p := range [][2]string{
				{"training curves", filepath.Join(out, "curves.png")},
				{"confusion matrix", filepath.Join(evalDir, evaluator.ConfusionFile)},
				{"ROC curve", filepath.Join(evalDir, evaluator.ROCFile)},
				{"calibration", filepath.Join(evalDir, evaluator.CalibrationFile)},
				{"report", filepath.Join(evalDir, evaluator.ReportFile)},
				{"SavedModel", res.SavedModel},
			} {
				fmt.Fprintf(w, "  %-17s %s\n", p[0], p[1])
			}
			fmt.Fprintf(w, "\nTry: xray predict --savedmodel %s %s\n", res.SavedModel, filepath.Join(data, "test", "PNEUMONIA", "*.jpeg"))
			return nil
		},
	})
}

// resetDemoDir empties out for a new demo run, refusing to delete a directory that holds
// something other than an earlier demo.
func resetDemoDir(out string) error {
	entries, err := os.ReadDir(out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, "data", "chest_xray")); err != nil {
		return fmt.Errorf("demo: %s exists and is not an earlier demo run: choose another --out", out)
	}
	return os.RemoveAll(out)
}
