package main

import (
	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer"
)

// leverFlags are xray train's flags for the training levers beside the paper's recipe;
// each default is the paper's (trainer.DefaultConfig).
func leverFlags(d trainer.Config) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "optimizer", Value: d.Optimizer, Usage: "sgd (the paper), adam or adamw (Keras 3 defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7)", EnvVars: env("OPTIMIZER")},
		&cli.Float64Flag{Name: "weight-decay", Value: d.WeightDecay, Usage: "decoupled weight decay w -= w*wd*lr per update, any optimizer (0 with adamw: Keras's 0.004)", EnvVars: env("WEIGHT_DECAY")},
		&cli.StringFlag{Name: "lr-schedule", Value: d.LRSchedule, Usage: "constant (the paper), cosine (Keras CosineDecay to 0 over all updates) or plateau (ReduceLROnPlateau on val_loss)", EnvVars: env("LR_SCHEDULE")},
		&cli.IntFlag{Name: "warmup-epochs", Value: d.WarmupEpochs, Usage: "ramp the learning rate linearly from 0 to --lr over the first `N` epochs", EnvVars: env("WARMUP_EPOCHS")},
		&cli.Float64Flag{Name: "plateau-factor", Value: d.PlateauFactor, Usage: "plateau: multiply the learning rate by this", EnvVars: env("PLATEAU_FACTOR")},
		&cli.IntFlag{Name: "plateau-patience", Value: d.PlateauPatience, Usage: "plateau: after this many epochs without a better val_loss", EnvVars: env("PLATEAU_PATIENCE")},
		&cli.Float64Flag{Name: "min-lr", Value: d.MinLR, Usage: "plateau: lower bound of the learning rate", EnvVars: env("MIN_LR")},
		&cli.StringFlag{Name: "class-weight", Value: d.ClassWeight, Usage: "none (the paper), balanced (n / (2 n_class)) or `W0,W1` (normal, pneumonia): Keras class_weight, in the loss and the reported loss (not accuracy, as Keras)", EnvVars: env("CLASS_WEIGHT")},
		&cli.Float64Flag{Name: "label-smoothing", Value: d.LabelSmoothing, Usage: "Keras label smoothing of the cross-entropy targets, e.g. 0.1", EnvVars: env("LABEL_SMOOTHING")},
		&cli.StringFlag{Name: "monitor", Value: d.Monitor, Usage: "best epoch (exported, early stopping) by val_loss (the paper), val_auc or val_accuracy", EnvVars: env("MONITOR")},
		&cli.StringFlag{Name: "precision", Value: tfgraph.PrecisionFloat32, Usage: "Keras precision policy: float32, mixed_bfloat16 or mixed_float16 (float32 variables, softmax and loss; layers compute in the low type; mixed_float16 with dynamic loss scaling); the SavedModel is float32 either way", EnvVars: env("PRECISION")},
		&cli.StringFlag{Name: "tensorboard", Usage: "write TensorBoard event files (per update and per epoch) under `DIR`", EnvVars: env("TENSORBOARD")},
	}
}

// applyLevers copies the lever flags into cfg.
func applyLevers(c *cli.Context, cfg *trainer.Config) {
	cfg.Optimizer, cfg.WeightDecay = c.String("optimizer"), c.Float64("weight-decay")
	cfg.LRSchedule, cfg.WarmupEpochs = c.String("lr-schedule"), c.Int("warmup-epochs")
	cfg.PlateauFactor, cfg.PlateauPatience, cfg.MinLR = c.Float64("plateau-factor"), c.Int("plateau-patience"), c.Float64("min-lr")
	cfg.ClassWeight, cfg.LabelSmoothing = c.String("class-weight"), c.Float64("label-smoothing")
	cfg.Monitor, cfg.TensorBoard = c.String("monitor"), c.String("tensorboard")
	cfg.Precision = c.String("precision")
}
