package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer"
	"github.com/xraylab/xray/trainer/cluster"
)

func env(name string) []string { return []string{"XRAY_" + name} }

func init() {
	d := trainer.DefaultConfig()
	register(&cli.Command{
		Name:  "train",
		Usage: "train a detector with the paper's SGD recipe and export it as a SavedModel",
		UsageText: "xray train --arch mobilenet --data DIR [--manifest FILE] [--out DIR] [flags]\n\n" +
			"Examples:\n" +
			"   xray train --data chest_xray --out runs/mobilenet                  # the paper's settings\n" +
			"   xray train --arch xception --data chest_xray --manifest split.csv --out runs/xception\n" +
			"   xray train --data chest_xray --out runs/mobilenet --resume         # continue a killed run\n" +
			"   xray train --data testdata/chest_xray --weights none --input-size 128 --epochs 3 --out runs/quick\n" +
			"   xray train --data chest_xray --classes normal,bacterial,viral --out runs/three  # pneumonia by cause",
		Flags: append([]cli.Flag{
			presetFlag(),
			&cli.StringFlag{Name: "arch", Value: d.Arch, Usage: "backbone: " + strings.Join(tfgraph.Architectures, ", "), EnvVars: env("ARCH")},
			&cli.StringFlag{Name: "data", Usage: "dataset root `DIR` (Kaggle chest_xray layout or NORMAL/ + PNEUMONIA/)", EnvVars: env("DATA")},
			&cli.StringFlag{Name: "manifest", Usage: "split manifest `FILE` from 'xray dataset split' (default: split --data with --seed and save OUT/manifest.csv)", EnvVars: env("MANIFEST")},
			&cli.StringFlag{Name: "scheme", Usage: "without --manifest: split `SCHEME` of --data, as in 'xray dataset split' (default paper)", EnvVars: env("SCHEME")},
			&cli.BoolFlag{Name: "val-from-folder", Usage: "with --scheme kaggle: the val/ folder is the validation split", EnvVars: env("VAL_FROM_FOLDER")},
			&cli.StringFlag{Name: "classes", Usage: "without --manifest: class `NAMES` to split --data into, normal,pneumonia (default) or normal,bacterial,viral; with --manifest: the manifest's (checked)", EnvVars: env("CLASSES")},
			&cli.StringFlag{Name: "threshold", Value: string(decision.DefaultRule), Usage: "operating threshold `RULE` chosen on the validation split and stored in the SavedModel (two classes only; more decide by argmax): youden (max sensitivity+specificity-1), sensitivity:0.95 (highest threshold with sensitivity >= 0.95) or argmax (0.5, the paper's)", EnvVars: env("THRESHOLD")},
			&cli.StringFlag{Name: "weights", Value: d.Weights, Usage: "backbone initialisation: imagenet (Keras's file: cache, then download), none, or a Keras weight `FILE`", EnvVars: env("WEIGHTS")},
			&cli.StringFlag{Name: "init", Usage: "start from a Keras-trained full model `FILE` (.h5 / .keras), base + head", EnvVars: env("INIT")},
			&cli.StringFlag{Name: "weights-cache", Usage: "Keras weight cache `DIR` (default ~/.keras/models)", EnvVars: env("WEIGHTS_CACHE")},
			&cli.IntFlag{Name: "epochs", Value: d.Epochs, Usage: "training epochs", EnvVars: env("EPOCHS")},
			&cli.IntFlag{Name: "batch-size", Value: d.BatchSize, Usage: "images per SGD step", EnvVars: env("BATCH_SIZE")},
			&cli.Float64Flag{Name: "lr", Value: d.LearningRate, Usage: "learning rate (the peak of --lr-schedule and --warmup-epochs)", EnvVars: env("LR")},
			&cli.Float64Flag{Name: "momentum", Value: d.Momentum, Usage: "SGD momentum (the paper: 0)", EnvVars: env("MOMENTUM")},
			&cli.IntFlag{Name: "input-size", Value: d.InputSize, Usage: "input side in pixels", EnvVars: env("INPUT_SIZE")},
			&cli.StringFlag{Name: "pool", Value: d.Pool, Usage: "head pooling: avg or max", EnvVars: env("POOL")},
			&cli.StringFlag{Name: "preprocess", Value: "paper", Usage: "pixel scaling: paper ([0,1]) or imagenet ([-1,1])", EnvVars: env("PREPROCESS")},
			dicomWindowFlag(),
			jitFlag(),
			&cli.StringFlag{Name: "batch-norm", Value: tfgraph.BatchNormFused, Usage: "how training steps compute BatchNormalization: fused (one FusedBatchNormV3 a layer, faster) or keras (Keras 3's ops one by one: its rounding exactly)", EnvVars: env("BATCH_NORM")},
			&cli.BoolFlag{Name: "freeze-base", Usage: "train the head only (the backbone keeps its weights and runs in inference mode)", EnvVars: env("FREEZE_BASE")},
			&cli.Int64Flag{Name: "seed", Value: d.Seed, Usage: "seed for the split, initialisation and shuffling", EnvVars: env("SEED")},
			&cli.BoolFlag{Name: "shuffle", Value: d.Shuffle, Usage: "reshuffle the training set every epoch (--shuffle=false keeps manifest order)", EnvVars: env("SHUFFLE")},
			&cli.Int64Flag{Name: "max-steps", Usage: "stop after `N` SGD updates (0: no limit)", EnvVars: env("MAX_STEPS")},
			&cli.StringFlag{Name: "out", Value: d.Out, Usage: "run `DIR`", EnvVars: env("OUT")},
			&cli.BoolFlag{Name: "resume", Usage: "continue from the last good checkpoint in --out", EnvVars: env("RESUME")},
			&cli.IntFlag{Name: "early-stopping", Usage: "stop after `PATIENCE` epochs without a better --monitor metric (0: off)", EnvVars: env("EARLY_STOPPING")},
			&cli.IntFlag{Name: "threads", Usage: "TensorFlow intra-op and inter-op threads and image-loader goroutines (0: one per core, recorded in run.json)", EnvVars: env("THREADS")},
			&cli.StringFlag{Name: "device", Value: d.Device, Usage: "auto (GPU when TensorFlow sees one, else CPU), cpu, or gpu (fail unless TensorFlow sees a GPU)", EnvVars: env("DEVICE")},
			&cli.StringFlag{Name: "devices", Usage: "data-parallel replicas: a count `N` (N GPUs, or N logical CPU devices with --device cpu) or a list such as GPU:0,GPU:1; each takes an even share of --batch-size and the gradients are averaged (docs/distributed.md)", EnvVars: env("DEVICES")},
			&cli.BoolFlag{Name: "cache-images", Value: d.CacheImages, Usage: "keep decoded images in memory after the first epoch", EnvVars: env("CACHE_IMAGES")},
			&cli.StringFlag{Name: "cache-dir", Usage: "keep resized images in a cache file in `DIR`, read from the second epoch on and by later runs with the same images, --input-size and preprocessing", EnvVars: env("CACHE_DIR")},
			&cli.StringFlag{Name: "cache-memory", Usage: "`SIZE` of memory the image cache may hold, e.g. 2GiB, 512MB (default min(4GiB, half the free memory)); with --cache-dir, the part of the file mapped at once", EnvVars: env("CACHE_MEMORY")},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar; one line per epoch", EnvVars: env("QUIET")},
		}, append(append(augmentFlags(), leverFlags(d)...), clusterFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("train takes no arguments, got %q (did you mean --data %s?)", c.Args().First(), c.Args().First())
			}
			if err := applyPreset(c); err != nil {
				return err
			}
			aug, err := augmentFromFlags(c)
			if err != nil {
				return err
			}
			scaling, err := scalingFlag(c)
			if err != nil {
				return err
			}
			window, err := dicomWindow(c)
			if err != nil {
				return err
			}
			cacheMemory, err := byteSizeFlag(c, "cache-memory")
			if err != nil {
				return err
			}
			cfg := trainer.Config{
				Arch: c.String("arch"), Data: c.String("data"), Manifest: c.String("manifest"),
				Scheme: c.String("scheme"), ValFromFolder: c.Bool("val-from-folder"), Threshold: c.String("threshold"),
				Weights: c.String("weights"), Init: c.String("init"), WeightsCache: c.String("weights-cache"),
				Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), LearningRate: c.Float64("lr"),
				Momentum: c.Float64("momentum"), InputSize: c.Int("input-size"), Pool: c.String("pool"),
				Preprocess: scaling, FreezeBase: c.Bool("freeze-base"), Seed: c.Int64("seed"),
				Shuffle: c.Bool("shuffle"), MaxSteps: c.Int64("max-steps"), Out: c.String("out"),
				Resume: c.Bool("resume"), EarlyStopping: c.Int("early-stopping"), Threads: c.Int("threads"),
				Device: c.String("device"), Devices: c.String("devices"), CacheImages: c.Bool("cache-images"), JIT: c.Bool("jit"), BatchNorm: c.String("batch-norm"), Quiet: c.Bool("quiet"),
				CacheDir: c.String("cache-dir"), CacheMemory: cacheMemory,
				Augment: aug, Preset: c.String("preset"), Classes: c.String("classes"), DICOMWindow: window,
			}
			if !c.IsSet("threshold") {
				cfg.Threshold = "" // the default rule for two classes, argmax for more
			}
			if !cfg.Quiet {
				cfg.Progress = progressBar(c.App.ErrWriter)
			}
			cfg.Logger = progress.Lines(c.App.Writer, "") // the run's lines on stdout, "warning: " before a warning
			applyLevers(c, &cfg)
			if cfg.Cluster, err = clusterFromFlags(c); err != nil {
				return err
			}
			if cfg.Cluster != nil && cfg.Cluster.TaskType == cluster.TaskWorker {
				return serveWorker(c, cfg) // a worker's TF_CONFIG: it serves, the chief trains
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cfg.Cluster != nil {
				go exitOnLostWorker(ctx, c, cfg)
			}
			res, err := trainer.Run(ctx, cfg)
			if err != nil {
				return lostWorkerError(noGPUError(err), cfg.Out)
			}
			if res.Interrupted {
				fmt.Fprintf(c.App.ErrWriter, "xray: interrupted after epoch %d; continue with: xray train --out %s --resume (same flags)\n", res.Epochs, cfg.Out)
				return cli.Exit("", 130)
			}
			return nil
		},
	})
}
