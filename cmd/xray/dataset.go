package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/progress"
)

func init() {
	def := dataset.DefaultSplitOptions()
	register(&cli.Command{
		Name:  "dataset",
		Usage: "prepare the chest X-ray data: scan a Kermany tree and save its train/val/test split",
		UsageText: "xray dataset split --data DIR --out MANIFEST.csv [--seed N] [--scheme paper|stratified|patient|kaggle]\n\n" +
			"Example:\n   xray dataset split --data testdata/chest_xray --out runs/manifest.csv",
		Subcommands: []*cli.Command{{
			Name:  "split",
			Usage: "scan a Kermany tree and write the manifest (path, label, split, patient, sha256) that train and evaluate read",
			UsageText: "xray dataset split --data DIR --out MANIFEST.csv [--seed N] [--scheme paper|stratified|patient|kaggle]\n" +
				"                   [--test-fraction 0.2] [--val-fraction 0.2] [--val-from-folder] [--verify]\n" +
				"                   [--classes normal,pneumonia|normal,bacterial,viral]\n\n" +
				"DIR is a Kaggle tree (chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/) or a plain\n" +
				"{NORMAL,PNEUMONIA}/ folder. Except with kaggle, all images are pooled and split again:\n" +
				"  paper       the paper's counts, drawn at random per class: test 345 normal + 815 pneumonia,\n" +
				"              validation 248 + 692, the rest training; scaled per class to smaller trees\n" +
				"  stratified  --test-fraction of each class for test, --val-fraction of the rest for validation\n" +
				"  patient     as stratified, but whole patients: no patient in two splits\n" +
				"  kaggle      the Kaggle tree's own folders: test/ is the test split (624 images in the\n" +
				"              release), validation is --val-fraction of train/ by whole patients (val/,\n" +
				"              16 images, is folded into train/ unless --val-from-folder)\n" +
				"Unreadable, truncated, non-image and smaller-than-32-px files are skipped with a warning.\n" +
				"The same data and seed give the same manifest, byte for byte.\n" +
				"--classes normal,bacterial,viral labels each PNEUMONIA image by the cause its Kermany file\n" +
				"name records (person1_bacteria_1.jpeg, person1_virus_6.jpeg); every scheme stratifies by\n" +
				"every class.\n\n" +
				"Examples:\n" +
				"   xray dataset split --data ~/chest_xray --out runs/manifest.csv\n" +
				"   xray dataset split --data testdata/chest_xray --out runs/patient.csv --scheme patient --seed 7\n" +
				"   xray dataset split --data ~/chest_xray --out runs/kaggle.csv --scheme kaggle\n" +
				"   xray dataset split --data ~/chest_xray --out runs/three.csv --scheme patient --classes normal,bacterial,viral",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "data", Required: true, Usage: "data folder `DIR` (Kaggle or plain layout)", EnvVars: []string{"XRAY_DATA"}},
				&cli.StringFlag{Name: "out", Required: true, Usage: "manifest `FILE` to write (CSV)", EnvVars: []string{"XRAY_OUT"}},
				&cli.Int64Flag{Name: "seed", Value: def.Seed, Usage: "random seed `N` of the split", EnvVars: []string{"XRAY_SEED"}},
				&cli.StringFlag{Name: "scheme", Value: string(def.Scheme), Usage: "split `SCHEME`: paper, stratified, patient or kaggle", EnvVars: []string{"XRAY_SCHEME"}},
				&cli.Float64Flag{Name: "test-fraction", Value: def.TestFraction, Usage: "stratified/patient: share `F` of each class for test", EnvVars: []string{"XRAY_TEST_FRACTION"}},
				&cli.Float64Flag{Name: "val-fraction", Value: def.ValFraction, Usage: "stratified/patient/kaggle: share `F` of the non-test images for validation", EnvVars: []string{"XRAY_VAL_FRACTION"}},
				&cli.BoolFlag{Name: "val-from-folder", Usage: "kaggle: keep the val/ folder as the validation split instead of drawing patients from train/", EnvVars: []string{"XRAY_VAL_FROM_FOLDER"}},
				classesFlag(),
				&cli.BoolFlag{Name: "verify", Usage: "fully decode every image (slower; default checks headers and end markers)", EnvVars: []string{"XRAY_VERIFY"}},
			},
			Action: datasetSplitAction,
		}, previewCommand()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("dataset: unknown subcommand %q: use 'xray dataset split' or 'xray dataset preview'", c.Args().First())
			}
			return usagef("dataset: missing subcommand: use 'xray dataset split --data DIR --out MANIFEST.csv'")
		},
	})
}

func datasetSplitAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("dataset split takes no arguments, got %q", c.Args().First())
	}
	scheme, err := dataset.ParseScheme(c.String("scheme"))
	if err != nil {
		return usagef("dataset split: --scheme: %v", err)
	}
	if scheme == dataset.Paper && (c.IsSet("test-fraction") || c.IsSet("val-fraction")) {
		return usagef("dataset split: --test-fraction and --val-fraction apply to --scheme stratified, patient or kaggle; paper uses the paper's counts")
	}
	if scheme == dataset.Kaggle && c.IsSet("test-fraction") {
		return usagef("dataset split: --test-fraction does not apply to --scheme kaggle: its test split is the test/ folder")
	}
	if c.Bool("val-from-folder") && (scheme != dataset.Kaggle || c.IsSet("val-fraction")) {
		return usagef("dataset split: --val-from-folder goes with --scheme kaggle and without --val-fraction")
	}
	for _, f := range []string{"test-fraction", "val-fraction"} {
		if v := c.Float64(f); !(v >= 0 && v < 1) {
			return usagef("dataset split: --%s %v: use a value from 0 up to (not including) 1", f, v)
		}
	}
	classes, err := labels.ParseSet(c.String("classes"))
	if err != nil {
		return usagef("dataset split: --classes: %v", err)
	}
	cfg := dataset.DefaultManifestConfig()
	cfg.Data, cfg.Out, cfg.Verify, cfg.Classes = c.String("data"), c.String("out"), c.Bool("verify"), classes
	cfg.Split = dataset.SplitOptions{Scheme: scheme, Seed: c.Int64("seed"),
		TestFraction: c.Float64("test-fraction"), ValFraction: c.Float64("val-fraction"), ValFromFolder: c.Bool("val-from-folder")}
	cfg.Progress = progressBar(c.App.ErrWriter)
	cfg.Logger = progress.Lines(c.App.ErrWriter, "xray: ") // "xray: warning: skipped PATH: reason"
	rep, err := dataset.MakeManifest(cfg)
	if errors.Is(err, dataset.ErrClasses) {
		return usagef("dataset split: --classes: %v", err)
	}
	if err != nil {
		return fmt.Errorf("dataset split: %w", err)
	}
	rep.WriteTable(c.App.Writer)
	fmt.Fprintf(c.App.Writer, "wrote %s (%s layout, scheme %s, seed %d)\n", cfg.Out, rep.Layout, scheme, cfg.Split.Seed)
	return nil
}

// classesFlag is --classes of dataset split and train.
func classesFlag() cli.Flag {
	return &cli.StringFlag{Name: "classes", Value: labels.Default().String(), EnvVars: []string{"XRAY_CLASSES"},
		Usage: "class `NAMES` in output order: normal,pneumonia (the paper) or normal,bacterial,viral (pneumonia by the cause in its file name)"}
}
