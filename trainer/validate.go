package trainer

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/tfgraph"
)

// ConfigError is an invalid Config setting; Field is the Config field's Go name, which
// a front end maps to its own option name.
type ConfigError = tfgraph.ConfigError

// ErrRunExists: the run directory already holds a training run and Resume is off.
var ErrRunExists = errors.New("already holds a training run")

// Validate reports the first invalid setting as a *ConfigError. It checks everything
// that can be checked without reading the data (the model's input size against the
// architecture included), so a run that would fail on its settings writes nothing.
func (c Config) Validate() error {
	bad := func(field string, value any, reason string) error {
		return &ConfigError{Field: field, Value: value, Reason: reason}
	}
	switch {
	case c.Data == "" && c.Manifest == "":
		return bad("Data", nil, "is required (a chest_xray folder with NORMAL/PNEUMONIA images)")
	case c.Epochs < 1:
		return bad("Epochs", c.Epochs, "must be at least 1")
	case c.BatchSize < 1:
		return bad("BatchSize", c.BatchSize, "must be at least 1")
	case !(c.LearningRate > 0):
		return bad("LearningRate", c.LearningRate, "must be positive")
	case c.Momentum < 0 || c.Momentum >= 1:
		return bad("Momentum", c.Momentum, "must be in [0, 1)")
	case c.Out == "":
		return bad("Out", nil, "is required")
	case c.MaxSteps < 0:
		return bad("MaxSteps", c.MaxSteps, "must be positive")
	case c.EarlyStopping < 0:
		return bad("EarlyStopping", c.EarlyStopping, "must be positive")
	case c.CacheMemory < 0:
		return bad("CacheMemory", c.CacheMemory, "must be positive (0: min(4 GiB, half the free memory))")
	case c.Threads < 0:
		return bad("Threads", c.Threads, "must be positive (0: all cores)")
	case c.Device != "" && c.Device != DeviceAuto && c.Device != DeviceCPU && c.Device != DeviceGPU:
		return bad("Device", c.Device, "unknown device: use auto, cpu or gpu")
	}
	if err := (tfgraph.Config{Arch: c.Arch, InputSize: c.InputSize, Pool: c.Pool, Precision: c.Precision, BatchNorm: c.BatchNorm}).Validate(); err != nil {
		return err
	}
	if _, err := c.Preprocess.MarshalText(); err != nil {
		return bad("Preprocess", string(c.Preprocess), "unknown preprocessing: use paper ([0,1]) or imagenet ([-1,1])")
	}
	if cs, err := labels.ParseSet(c.Classes); err != nil {
		return bad("Classes", c.Classes, err.Error())
	} else if !cs.IsDefault() && !cs.Equal(labels.Subtypes()) {
		return bad("Classes", c.Classes, fmt.Sprintf("the data can be labelled %s or %s", labels.Default(), labels.Subtypes()))
	}
	if err := c.validateSplit(); err != nil {
		return err
	}
	if c.Threshold != "" {
		if _, err := decision.ParseRule(c.Threshold); err != nil {
			return &ConfigError{Field: "Threshold", Value: c.Threshold, Reason: err.Error()}
		}
	}
	if err := c.validateWeights(); err != nil {
		return err
	}
	if err := c.Augment.Validate(); err != nil {
		return err
	}
	if err := c.validateDevices(); err != nil {
		return err
	}
	if err := c.validatePrecision(); err != nil {
		return err
	}
	return c.validateLevers()
}

// validateSplit checks the split settings, which apply only when the run splits Data.
func (c Config) validateSplit() error {
	if c.Scheme == "" && !c.ValFromFolder {
		return nil
	}
	if c.Manifest != "" {
		field, value := "Scheme", any(c.Scheme)
		if c.Scheme == "" {
			field, value = "ValFromFolder", c.ValFromFolder
		}
		return &ConfigError{Field: field, Value: value, Reason: "applies only without a manifest: the manifest already holds the split"}
	}
	o := dataset.DefaultSplitOptions()
	o.ValFromFolder = c.ValFromFolder
	if c.Scheme != "" {
		o.Scheme = dataset.Scheme(c.Scheme)
	}
	if err := o.Validate(); err != nil {
		if c.Scheme == "" {
			return &ConfigError{Field: "ValFromFolder", Value: true, Reason: err.Error()}
		}
		return &ConfigError{Field: "Scheme", Value: c.Scheme, Reason: err.Error()}
	}
	return nil
}

// validateWeights checks the starting weights: a head-only run needs a trained base.
func (c Config) validateWeights() error {
	if c.Init == "" {
		switch w := strings.ToLower(c.Weights); {
		case w == "none" && c.FreezeBase:
			return &ConfigError{Field: "FreezeBase", Value: true, Reason: "needs trained base weights, but the weights are none: " +
				"the base would keep its random initialisation; use imagenet weights, a weight file or an init model"}
		case w != "none" && w != "" && w != "imagenet":
			if st, err := os.Stat(c.Weights); err != nil || st.IsDir() {
				return &ConfigError{Field: "Weights", Value: c.Weights, Reason: "no such weight file: use imagenet, none or the path of a Keras .h5/.weights.h5/.keras file"}
			}
		}
	} else {
		if _, err := os.Stat(c.Init); err != nil {
			return &ConfigError{Field: "Init", Value: c.Init, Reason: "cannot read the model file: " + strings.TrimPrefix(err.Error(), "stat "+c.Init+": ")}
		}
	}
	return nil
}

// validatePrecision rejects what loss scaling does not cover yet: data-parallel
// replicas and clusters average gradients outside the one-device step (trainer/step).
func (c Config) validatePrecision() error {
	if c.Precision == tfgraph.PrecisionMixedFloat16 && (c.Devices != "" || c.Cluster != nil) {
		return &ConfigError{Field: "Precision", Value: c.Precision, Reason: "has no loss scaling across replicas or machines yet: train on one device, or use mixed_bfloat16 (which needs none)"}
	}
	return nil
}
