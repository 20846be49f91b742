package tfgraph

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// Defaults of Config (the paper's).
const (
	DefaultInputSize = 256
	DefaultPool      = PoolAvg
)

// Architectures lists every architecture name Build knows, in a stable order.
var Architectures = []string{MobileNet, Xception, InceptionV3}

// backbone builds an architecture's convolutional base (keras.applications with
// include_top=False) on x and returns its feature map. To add an architecture, write
// <arch>.go with such a function made of the layer builders in layers.go, and register
// it in backbones with Keras's minimum input side for it.
type backbone struct {
	build    func(b *builder, x tf.Output) tf.Output
	kerasMin int // obtain_input_shape's min_size in keras/src/applications/<arch>.py
}

var backbones = map[string]backbone{
	MobileNet:   {build: mobileNetBackbone, kerasMin: 32},
	Xception:    {build: xceptionBackbone, kerasMin: 71},
	InceptionV3: {build: inceptionV3Backbone, kerasMin: 75},
}

// withDefaults fills the zero values with the paper's defaults and validates cfg.
func (cfg Config) withDefaults() (Config, backbone, error) {
	if cfg.InputSize == 0 {
		cfg.InputSize = DefaultInputSize
	}
	if cfg.Pool == "" {
		cfg.Pool = DefaultPool
	}
	if cfg.Classes == 0 {
		cfg.Classes = NumClasses
	}
	if cfg.Precision == "" {
		cfg.Precision = PrecisionFloat32
	}
	if _, ok := ComputeType(cfg.Precision); !ok {
		return cfg, backbone{}, precisionError(cfg.Precision)
	}
	if cfg.BatchNorm == "" {
		cfg.BatchNorm = BatchNormFused
	}
	if cfg.BatchNorm != BatchNormFused && cfg.BatchNorm != BatchNormKeras {
		return cfg, backbone{}, &ConfigError{Field: "BatchNorm", Value: fmt.Sprintf("%q", cfg.BatchNorm), Reason: fmt.Sprintf("unknown batch normalization: use %s or %s", BatchNormFused, BatchNormKeras)}
	}
	if cfg.Classes < 2 {
		return cfg, backbone{}, &ConfigError{Field: "Classes", Value: cfg.Classes, Reason: "too few: the head's softmax needs 2 classes or more"}
	}
	known := false
	for _, a := range Architectures {
		known = known || a == cfg.Arch
	}
	if !known {
		return cfg, backbone{}, &ConfigError{Field: "Arch", Value: fmt.Sprintf("%q", cfg.Arch), Reason: "unknown architecture: use one of " + strings.Join(Architectures, ", ")}
	}
	bb, ok := backbones[cfg.Arch]
	if !ok {
		return cfg, backbone{}, &ConfigError{Field: "Arch", Value: cfg.Arch, Reason: "not implemented yet in this build: use " + strings.Join(implemented(), ", ")}
	}
	if cfg.Pool != PoolAvg && cfg.Pool != PoolMax {
		return cfg, backbone{}, &ConfigError{Field: "Pool", Value: fmt.Sprintf("%q", cfg.Pool), Reason: fmt.Sprintf("unknown head pooling: use %s or %s", PoolAvg, PoolMax)}
	}
	if cfg.InputSize < 0 {
		return cfg, backbone{}, &ConfigError{Field: "InputSize", Value: cfg.InputSize, Reason: fmt.Sprintf("is negative: use a side such as %d", DefaultInputSize)}
	}
	if min := MinInputSize(cfg.Arch); cfg.InputSize < min {
		return cfg, backbone{}, &ConfigError{Field: "InputSize", Value: cfg.InputSize, Reason: fmt.Sprintf(
			"too small for %s: its feature map would be smaller than the head's %dx%d pooling; use %d or more", cfg.Arch, HeadPool, HeadPool, min)}
	}
	return cfg, bb, nil
}

// Validate reports the first invalid setting of cfg as a *ConfigError, without building
// anything, so a caller can check a configuration before it writes files.
func (cfg Config) Validate() error {
	_, _, err := cfg.withDefaults()
	return err
}

func implemented() []string {
	var names []string
	for _, a := range Architectures {
		if _, ok := backbones[a]; ok {
			names = append(names, a)
		}
	}
	return names
}

// Build builds the Keras model cfg names (backbone + the paper's head) as one graph with
// three paths sharing the variables: inference (Features, Logits, Probs), training
// (TrainFeatures, TrainLogits, TrainProbs, BNUpdates) and head-only training on the
// inference features (HeadTrainLogits, HeadBNUpdates). Its variables are
// uninitialised: run Initialize (Keras-default initialisers from cfg.Seed) or SetValues.
func Build(cfg Config) (*Model, error) { return build(cfg, nil) }

// build is Build, plus one Replica per device in devices (BuildReplicated).
func build(cfg Config, devices []string) (*Model, error) {
	cfg, bb, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg}
	err = catch(func() {
		root := op.NewScope()
		b := newBuilder(root, cfg.Seed)
		b.compute, _ = ComputeType(cfg.Precision)
		b.fusedBN = cfg.BatchNorm == BatchNormFused
		s := int64(cfg.InputSize)
		m.Input = op.Placeholder(root.SubScope("input_layer"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, s, s, 3)))
		b.producer[m.Input] = "input_layer"
		b.layers = append(b.layers, LayerInfo{Name: "input_layer", Type: "InputLayer", OutputShape: []int64{s, s, 3}, Trainable: true})

		// Inference pass: creates the variables.
		b.startPass("")
		m.Features = bb.build(b, m.Input)
		b.headUIDs = maps.Clone(b.uids)
		m.Logits, m.Probs = buildHead(b, m.Features, cfg.Pool, cfg.Classes)

		// Training pass: batch statistics throughout.
		b.startPass("train")
		m.TrainFeatures = bb.build(b, m.Input)
		m.TrainLogits, m.TrainProbs = buildHead(b, m.TrainFeatures, cfg.Pool, cfg.Classes)
		m.BNUpdates, b.updates = b.updates, nil

		// Head-only training pass: the head in training mode on the inference features,
		// as Keras runs a model whose base is not trainable.
		b.startPass("train_head")
		b.uids = maps.Clone(b.headUIDs)
		m.HeadTrainLogits, _ = buildHead(b, m.Features, cfg.Pool, cfg.Classes)
		m.HeadBNUpdates, b.updates = b.updates, nil
		m.Replicas = b.replicate(m, bb, devices)

		m.Variables = b.order
		m.Layers = b.layers
		m.outputs = b.outputs
		g, err := root.Finalize()
		if err != nil {
			panic(buildError{CleanError(err)})
		}
		m.Graph = g
	})
	if err != nil {
		return nil, fmt.Errorf("build %s at %d x %d: %w", cfg.Arch, cfg.InputSize, cfg.InputSize, err)
	}
	return m, nil
}

// catch runs f, turning a buildError panic (or any other) into an error.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			var be buildError
			if e, ok := r.(buildError); ok {
				be = e
			} else {
				be = buildError{fmt.Errorf("%v", r)}
			}
			err = be.err
		}
	}()
	f()
	return nil
}

var minSizes sync.Map // arch -> int

// MinInputSize is the smallest square input side for which arch's backbone yields a
// feature map of at least HeadPool x HeadPool (and Keras accepts the input). It is found
// by building the backbone alone at candidate sizes, so it follows the architecture's
// code instead of a second, hand-derived formula.
func MinInputSize(arch string) int {
	if v, ok := minSizes.Load(arch); ok {
		return v.(int)
	}
	bb, ok := backbones[arch]
	if !ok {
		return 0
	}
	ok4 := func(size int) bool { side, err := featureSide(bb, size); return err == nil && side >= HeadPool }
	lo, hi := bb.kerasMin, bb.kerasMin
	for !ok4(hi) {
		lo, hi = hi+1, hi*2
	}
	for lo < hi { // smallest size in [lo, hi] that works; feature sides grow with the input
		mid := (lo + hi) / 2
		if ok4(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	minSizes.Store(arch, hi)
	return hi
}

// featureSide builds bb's inference pass alone at size and returns the smaller spatial
// side of its feature map.
func featureSide(bb backbone, size int) (side int64, err error) {
	err = catch(func() {
		root := op.NewScope()
		b := newBuilder(root, 0)
		in := op.Placeholder(root.SubScope("input_layer"), tf.Float, op.PlaceholderShape(tf.MakeShape(1, int64(size), int64(size), 3)))
		sh := staticShape(bb.build(b, in))
		side = min(sh[1], sh[2])
	})
	if err == nil && side < 0 {
		err = errors.New("unknown feature map size")
	}
	return side, err
}
