package trainer

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/cluster"
	"github.com/xraylab/xray/trainer/history"
)

// Config holds every training setting. Defaults (DefaultConfig) are the paper's.
type Config struct {
	Preset        string             `json:"preset,omitempty"` // the named recipe the settings came from, for the record
	Arch          string             `json:"arch"`
	Data          string             `json:"data"`                      // data root (Kaggle layout or NORMAL/PNEUMONIA)
	Manifest      string             `json:"manifest,omitempty"`        // split manifest; empty: split Data with Seed and save it in Out
	Scheme        string             `json:"scheme,omitempty"`          // split scheme when there is no manifest; empty: paper
	Classes       string             `json:"classes,omitempty"`         // class names when there is no manifest (labels.ParseSet); empty: normal,pneumonia; with a manifest it must match the manifest's
	ValFromFolder bool               `json:"val_from_folder,omitempty"` // kaggle scheme: the val/ folder is validation
	Threshold     string             `json:"threshold,omitempty"`       // operating-threshold rule (decision.ParseRule) chosen on validation; empty: youden
	Weights       string             `json:"weights"`                   // "imagenet", "none" or a Keras weight file for the backbone
	Init          string             `json:"init,omitempty"`            // a Keras-trained full model (.h5/.keras) to start from
	WeightsCache  string             `json:"weights_cache,omitempty"`   // Keras's weight cache folder; empty: weights.CacheDir()
	Epochs        int                `json:"epochs"`
	BatchSize     int                `json:"batch_size"`
	LearningRate  float64            `json:"lr"`
	Momentum      float64            `json:"momentum"`
	InputSize     int                `json:"input_size"`
	Pool          string             `json:"pool"`
	Preprocess    preprocess.Scaling `json:"preprocess"`   // pixel scaling: preprocess.Unit ([0,1], the paper's) or ImageNet ([-1,1])
	DICOMWindow   dicom.Window       `json:"dicom_window"` // DICOM values to 8-bit gray; serve with the same window
	FreezeBase    bool               `json:"freeze_base"`
	Seed          int64              `json:"seed"`
	Shuffle       bool               `json:"shuffle"`
	MaxSteps      int64              `json:"max_steps,omitempty"`
	Out           string             `json:"out"`
	Resume        bool               `json:"resume"`
	EarlyStopping int                `json:"early_stopping,omitempty"` // patience in epochs; 0 = off
	Threads       int                `json:"threads,omitempty"`
	BatchNorm     string             `json:"batch_norm,omitempty"` // tfgraph.BatchNormFused (default) or tfgraph.BatchNormKeras: how training steps compute BatchNormalization
	JIT           bool               `json:"jit,omitempty"`        // compile the training step with XLA (global_jit_level); fails with devices.ErrNoXLA when the library lacks it
	Device        string             `json:"device"`
	Devices       string             `json:"devices,omitempty"`      // data-parallel replicas: a count or a list such as GPU:0,GPU:1 (trainer/step replicates the step); empty: one device
	Cluster       *cluster.Cluster   `json:"cluster,omitempty"`      // several machines (trainer/cluster); nil: this process alone
	Quiet         bool               `json:"quiet"`                  // fewer log lines (no split table)
	Progress      progress.Func      `json:"-"`                      // called after each training step; nil: none (cmd/xray draws it as a bar)
	Logger        *slog.Logger       `json:"-"`                      // the run's lines (devices, split, epochs, export) as Info records, warnings as Warn; nil: none
	CacheImages   bool               `json:"cache_images"`           // keep decoded images in memory across epochs
	CacheDir      string             `json:"cache_dir,omitempty"`    // keep resized pixels in a file here (loader.Config.CacheDir), reused across epochs and runs
	CacheMemory   int64              `json:"cache_memory,omitempty"` // bytes the image cache may hold in memory (mapped, with CacheDir); 0: min(4 GiB, half the free memory)
	// Augment perturbs training batches (never validation, test or serving); off when zero.
	Augment loader.Augment `json:"augment,omitzero"`
	RunID   string         `json:"run_id,omitempty"`

	// Training levers beside the paper's recipe (zero values: the paper's). A preset sets
	// these fields; each is one Keras 3 setting.
	Optimizer       string  `json:"optimizer"`             // sgd (the paper), adam or adamw: keras.optimizers.*
	WeightDecay     float64 `json:"weight_decay"`          // decoupled weight decay (Keras weight_decay); 0 with adamw: AdamW's 0.004
	LRSchedule      string  `json:"lr_schedule"`           // constant (the paper), cosine (CosineDecay over all updates) or plateau (ReduceLROnPlateau on val_loss)
	WarmupEpochs    int     `json:"warmup_epochs"`         // linear warmup from 0 to LearningRate over this many epochs
	PlateauFactor   float64 `json:"plateau_factor"`        // plateau: multiply the rate by this (Keras factor; 0: 0.1)
	PlateauPatience int     `json:"plateau_patience"`      // plateau: after this many epochs without improvement (0: 10)
	MinLR           float64 `json:"min_lr"`                // plateau: never below this
	ClassWeight     string  `json:"class_weight"`          // none (the paper), balanced or "W0,W1": Keras class_weight
	LabelSmoothing  float64 `json:"label_smoothing"`       // Keras CategoricalCrossentropy(label_smoothing)
	Monitor         string  `json:"monitor"`               // best epoch by val_loss (the paper), val_auc or val_accuracy
	TensorBoard     string  `json:"tensorboard,omitempty"` // write TensorBoard event files under this directory

	// Precision is the Keras precision policy of the training graph: float32 (also ""),
	// mixed_bfloat16 or mixed_float16 (tfgraph.Precisions; mixed_float16 adds dynamic loss
	// scaling). The exported SavedModels are float32 whatever it is.
	Precision string `json:"precision,omitempty"`
}

// DefaultConfig is the paper's setting: MobileNet, ImageNet weights, SGD lr 0.001, batch
// 20, 100 epochs, 256 x 256 inputs scaled to [0, 1], average pooling, shuffled batches.
func DefaultConfig() Config {
	return Config{
		Arch: tfgraph.MobileNet, Weights: "imagenet", Epochs: 100, BatchSize: 20, LearningRate: 0.001,
		InputSize: 256, Pool: tfgraph.PoolAvg, Preprocess: preprocess.Unit, Seed: 42, Shuffle: true,
		Out: "runs/mobilenet", Device: DeviceAuto, CacheImages: true,
		Optimizer: OptimizerSGD, LRSchedule: ScheduleConstant, PlateauFactor: 0.1, PlateauPatience: 10,
		ClassWeight: ClassWeightNone, Monitor: MonitorValLoss,
	}
}

// DemoConfig is the quick CPU run `xray demo` makes on the embedded sample: the paper's
// pipeline (MobileNet + head, SGD, SavedModel) at 128 x 128 with short epochs, from random
// initialisation (no network for ImageNet weights). Batch 4 and lr 0.01 instead of the
// paper's 20 and 0.001, 30 epochs (~780 steps, a few minutes on two cores): from scratch,
// inference-mode BatchNormalization runs on moving statistics that start at mean 0 /
// variance 1 and move 1 % a step, and the deep depthwise layers' true variances are
// ~1e-3, so until ~600 steps have washed the initial 1 out the model predicts one class
// (Keras's model.fit does the same). Larger learning rates or momentum do not shorten
// that; more steps per second (small batches) do, and batch 2 trains too noisily.
// TestShortRunLearns checks that these settings learn.
func DemoConfig(data, out string) Config {
	cfg := DefaultConfig()
	cfg.Data, cfg.Out = data, out
	cfg.Weights = "none"
	cfg.InputSize = 128
	cfg.Epochs = 30
	cfg.BatchSize = 4
	cfg.LearningRate = 0.01
	cfg.Device = DeviceCPU
	cfg.RunID = "demo"
	return cfg
}

// Result summarises a finished (or stopped) run.
type Result struct {
	Out          string
	Epochs       int // epochs completed
	Steps        int64
	BestEpoch    int     // best by Config.Monitor
	BestValLoss  float64 // the best epoch's validation loss
	SavedModel   string  // OUT/savedmodel: the best epoch
	LastModel    string  // OUT/savedmodel-last when the last epoch is not the best
	History      []EpochStats
	Interrupted  bool // stopped by the context (Ctrl-C); resume with --resume
	StoppedEarly bool
	Duration     time.Duration
}

// EpochStats is one row of history.csv: Keras's epoch averages plus wall time.
type EpochStats = history.EpochStats

// logger is Config.Logger with printf-style records: each record is one line for a
// person (progress.Lines prints it as it reads, "warning: " before a Warn), so its
// message is the whole line; Result and history.csv hold the numbers for programs.
type logger struct{ l *slog.Logger }

// newLogger is l, or a logger that discards when l is nil.
func newLogger(l *slog.Logger) logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return logger{l}
}

func (l logger) printf(format string, a ...any) { l.l.Info(fmt.Sprintf(format, a...)) }

func (l logger) warnf(format string, a ...any) { l.l.Warn(fmt.Sprintf(format, a...)) }
