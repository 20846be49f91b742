package main

import (
	"errors"
	"fmt"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/compare"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/evaluator/shift"
	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/pacs/dicomweb"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer"
	"github.com/xraylab/xray/trainer/cluster"
)

// flagFor maps a configuration field named by a library's ConfigError (trainer.Config,
// tfgraph.Config) to the flag that sets it: the one place that knows both vocabularies.
var flagFor = map[string]string{
	"Arch": "arch", "Data": "data", "Manifest": "manifest", "Scheme": "scheme", "ValFromFolder": "val-from-folder",
	"Weights": "weights", "Init": "init", "WeightsCache": "weights-cache", "Epochs": "epochs", "BatchSize": "batch-size",
	"LearningRate": "lr", "Momentum": "momentum", "InputSize": "input-size", "Pool": "pool", "Preprocess": "preprocess",
	"FreezeBase": "freeze-base", "Seed": "seed", "Shuffle": "shuffle", "MaxSteps": "max-steps", "Out": "out",
	"Resume": "resume", "EarlyStopping": "early-stopping", "Threads": "threads", "JIT": "jit", "BatchNorm": "batch-norm", "Device": "device", "Devices": "devices",
	"CacheImages": "cache-images", "CacheDir": "cache-dir", "CacheMemory": "cache-memory", "Quiet": "quiet", "Preset": "preset", "Threshold": "threshold", "Classes": "classes",
	"Optimizer": "optimizer", "WeightDecay": "weight-decay", "LRSchedule": "lr-schedule", "WarmupEpochs": "warmup-epochs",
	"PlateauFactor": "plateau-factor", "PlateauPatience": "plateau-patience", "MinLR": "min-lr",
	"ClassWeight": "class-weight", "LabelSmoothing": "label-smoothing", "Monitor": "monitor", "TensorBoard": "tensorboard",
	"Precision": "precision",
}

// ensembleFlagFor maps the fields of ensemble.Write's ConfigErrors to the flags of
// xray ensemble (flagFor is xray train's).
var ensembleFlagFor = map[string]string{"Members": "savedmodel", "Weights": "weights", "TTA": "tta"}

// shiftFlagFor maps the fields of shift.Run's adaptation ConfigErrors (its own and
// adapt.Run's) to the flags of xray evaluate --shift.
var shiftFlagFor = map[string]string{shift.FieldAdaptSplit: "adapt-split", shift.FieldAdaptImages: "adapt-images", "Mode": "adapt-mode"}

// cliError puts a library error in the command line's words: an invalid setting becomes
// a usage error naming its flag, and errors a flag fixes say which.
func cliError(err error) error {
	var ce *tfgraph.ConfigError
	if errors.As(err, &ce) {
		return configUsage(err, ce, flagFor)
	}
	switch {
	case errors.Is(err, trainer.ErrRunExists):
		return fmt.Errorf("%w: pass --resume to continue it, or choose another --out", err)
	case errors.Is(err, savedmodels.ErrNoGradCAM):
		return fmt.Errorf("%w: export it again with 'xray import-keras' (from its Keras file) or 'xray train --resume --out RUN' with the run's settings (a finished run only exports again)", err)
	case errors.Is(err, tfgraph.ErrUnknownLayer):
		return usageError{"--layer: " + err.Error()}
	case errors.Is(err, explain.ErrBadPatch):
		return usageError{"--patch/--stride: " + err.Error()}
	case errors.Is(err, savedmodels.ErrUnknownClass):
		return usageError{"--class: " + err.Error()}
	case errors.Is(err, dicomweb.ErrUnauthorized):
		return fmt.Errorf("%w (%v): check --user/--password or --token (XRAY_PACS_PASSWORD, XRAY_PACS_TOKEN)", err, dicomweb.ErrUnauthorized)
	case errors.Is(err, dicomweb.ErrUnavailable):
		return fmt.Errorf("%w: check --url and that the PACS is up, then run again (images already done are skipped)", err)
	case errors.Is(err, compare.ErrNotEvaluated):
		return fmt.Errorf("%w: run 'xray evaluate' on it first", err)
	case errors.Is(err, evaluator.ErrOldMetrics):
		return fmt.Errorf("%w: re-run 'xray evaluate' to rewrite it", err)
	case errors.Is(err, dataset.ErrNotManifest):
		return fmt.Errorf("%w: make one with 'xray dataset split'", err)
	case errors.Is(err, cluster.ErrNoWorker):
		return fmt.Errorf("%w: start 'xray worker' with the same cluster there", err)
	case errors.Is(err, predict.ErrNoManifest):
		return fmt.Errorf("%w: pass --manifest FILE (from 'xray dataset split', or the training run's manifest.csv)", err)
	}
	return err
}

// configUsage is the usage error for ce, naming the flag flags maps its field to.
func configUsage(err error, ce *tfgraph.ConfigError, flags map[string]string) error {
	name, ok := flags[ce.Field]
	if !ok {
		return usageError{err.Error()}
	}
	switch v := ce.Value.(type) {
	case nil:
		return usagef("--%s %s", name, ce.Reason)
	case bool:
		return usagef("--%s: %s", name, ce.Reason)
	default:
		return usagef("--%s %v: %s", name, v, ce.Reason)
	}
}
