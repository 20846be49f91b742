package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels/ensemble"
	"github.com/xraylab/xray/tfgraph"
)

func init() {
	register(&cli.Command{
		Name:  "ensemble",
		Usage: "average SavedModels (and test-time augmentation views) into one SavedModel",
		UsageText: "xray ensemble --savedmodel DIR --savedmodel DIR [...] [--weights W,W,...] [--tta N] --out DIR\n" +
			"   [--data DIR [--manifest FILE] [--split val] [--threshold RULE]]\n\n" +
			"Writes one SavedModel whose signatures return the weighted mean of the members'\n" +
			"probabilities (serving_gradcam: of their heatmaps), which predict, evaluate, explain, serve\n" +
			"and batch use like any other. Members may differ in architecture and input size; their\n" +
			"classes must agree. serving_bytes gives each member its own preprocessing of the file;\n" +
			"serving_default (and the Go API) takes pixels at the largest member's size and scaling,\n" +
			"resized and rescaled in the graph for the others. --tta N averages N fixed views (shifts\n" +
			"and zooms, no flips; docs/ensemble.md) per member: with one --savedmodel, that is\n" +
			"test-time augmentation of a single model. With --data, the operating threshold is chosen\n" +
			"again on the ensemble's predictions of the validation split (--split; all: every image of\n" +
			"a plain NORMAL/PNEUMONIA folder); without it the ensemble decides by argmax.\n\n" +
			"Examples:\n" +
			"   xray ensemble --savedmodel runs/s42/savedmodel --savedmodel runs/s7/savedmodel --savedmodel runs/s1234/savedmodel --out runs/ens3/savedmodel\n" +
			"   xray ensemble --savedmodel runs/m/savedmodel --tta 5 --out runs/m-tta/savedmodel\n" +
			"   xray ensemble --savedmodel a/savedmodel --savedmodel b/savedmodel --weights 2,1 --data data/chest_xray --manifest runs/s42/manifest.csv --out ens/savedmodel",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "savedmodel", Usage: "member SavedModel `DIR` (repeat, one per member)", EnvVars: env("SAVEDMODEL")},
			&cli.StringFlag{Name: "weights", Usage: "member weights `W,W,...` in --savedmodel order, >= 0, normalized to sum 1 (default: equal)", EnvVars: env("WEIGHTS")},
			&cli.IntFlag{Name: "tta", Value: 1, Usage: fmt.Sprintf("test-time augmentation: average the first `N` of %d fixed views (1: none)", len(ensemble.TTAViews)), EnvVars: env("TTA")},
			&cli.StringFlag{Name: "out", Usage: "output SavedModel `DIR` (written atomically)", EnvVars: env("OUT")},
			&cli.StringFlag{Name: "data", Usage: "dataset root `DIR` whose validation split chooses the operating threshold", EnvVars: env("DATA")},
			&cli.StringFlag{Name: "manifest", Usage: "split manifest `FILE` (default: the first member's run's manifest.csv)", EnvVars: env("MANIFEST")},
			&cli.StringFlag{Name: "split", Value: "val", Usage: "`NAME` of the split that chooses the threshold (all: every image of --data)", EnvVars: env("SPLIT")},
			&cli.StringFlag{Name: "threshold", Value: string(decision.DefaultRule), Usage: "operating threshold `RULE` with --data: youden, sensitivity:0.95 or argmax", EnvVars: env("THRESHOLD")},
		},
		Action: ensembleAction,
	})
}

func ensembleAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("ensemble takes no arguments, got %q: give members with --savedmodel", c.Args().First())
	}
	members, out := c.StringSlice("savedmodel"), c.String("out")
	if len(members) == 0 {
		return usagef("ensemble needs --savedmodel DIR, once per member")
	}
	if out == "" {
		return usagef("ensemble needs --out DIR")
	}
	opts := ensemble.Options{TTA: c.Int("tta")}
	var err error
	if opts.Weights, err = parseWeights(c.String("weights")); err != nil {
		return err
	}
	rule, err := decision.ParseRule(c.String("threshold"))
	if err != nil {
		return usagef("--threshold: %v", err)
	}
	if c.String("data") != "" || c.String("manifest") != "" {
		in := predict.Input{Data: c.String("data"), Manifest: c.String("manifest"), Split: c.String("split"),
			Progress: progressBar(c.App.ErrWriter), Logger: progress.Lines(c.App.ErrWriter, "xray: ")}
		if in.Manifest == "" && in.Split != predict.AllImages {
			if p := filepath.Join(filepath.Dir(filepath.Clean(members[0])), "manifest.csv"); fileExists(p) {
				in.Manifest = p
			}
		}
		opts.Threshold = func(ctx context.Context, dir string) (*decision.Threshold, error) {
			in.SavedModel = dir
			return chooseThreshold(ctx, c, in, rule)
		}
	}
	if err := ensemble.Write(c.Context, out, members, opts); err != nil {
		if ce := (*tfgraph.ConfigError)(nil); errors.As(err, &ce) {
			return configUsage(err, ce, ensembleFlagFor)
		}
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "xray: wrote the ensemble of %d SavedModels (%d views each) to %s\n", len(members), max(opts.TTA, 1), out)
	return nil
}

// parseWeights reads --weights: numbers separated by commas; "" is nil (equal weights).
func parseWeights(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var w []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, usagef("--weights %q: %q is not a number: give one number per member, e.g. 2,1", s, f)
		}
		w = append(w, x)
	}
	return w, nil
}

// chooseThreshold predicts the split with the finished ensemble and chooses its operating
// threshold by rule, as training does (trainer's operatingPoint); nil (argmax) for more
// than two classes or when none can be chosen, with a warning saying why.
func chooseThreshold(ctx context.Context, c *cli.Context, in predict.Input, rule decision.Rule) (*decision.Threshold, error) {
	recs, meta, err := predict.Split(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(meta.Classes) != 2 {
		fmt.Fprintf(c.App.ErrWriter, "xray: %d classes: the ensemble decides by argmax\n", len(meta.Classes))
		return nil, nil
	}
	if rule == decision.Argmax {
		return &decision.Threshold{Rule: decision.Argmax, Value: 0.5}, nil
	}
	truth := make([]int, len(recs))
	scores := make([]float64, len(recs))
	for i, r := range recs {
		truth[i], scores[i] = r.Label, r.Probs[labels.Pneumonia]
	}
	t, err := rule.Choose(truth, scores)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "xray: warning: no operating threshold (%v); the ensemble decides by argmax\n", err)
		return nil, nil
	}
	fmt.Fprintf(c.App.ErrWriter, "xray: operating threshold: %s, chosen on %d %s images\n", t, len(truth), in.Split)
	return &t, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
