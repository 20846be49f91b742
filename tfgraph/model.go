// Package tfgraph builds, from Go, TensorFlow graphs that ARE the Keras models of the paper:
// MobileNet (v1), Xception and InceptionV3 from keras.applications with include_top=False,
// topped by the paper's dense head. Layers and variables carry Keras's names, so Keras
// weight files map onto them by name and produce Keras's numbers.
package tfgraph

import (
	tf "github.com/wamuir/graft/tensorflow"
)

// Architectures.
const (
	MobileNet   = "mobilenet"
	Xception    = "xception"
	InceptionV3 = "inceptionv3"
)

// Pooling kinds of the head's 4 x 4 pooling layer.
const (
	PoolAvg = "avg"
	PoolMax = "max"
)

// Config selects what Build builds. The zero values of InputSize, Pool and Classes mean
// the paper's 256, average pooling and 2 classes.
type Config struct {
	Arch      string // MobileNet, Xception or InceptionV3
	InputSize int    // square input side, default 256
	Pool      string // PoolAvg (default) or PoolMax
	Seed      int64  // seeds the Keras-default initialisers
	Classes   int    // the head's output width (labels.Set.Len); default 2
	// Precision is the Keras precision policy: PrecisionFloat32 (also ""),
	// PrecisionMixedBFloat16 or PrecisionMixedFloat16 (precision.go).
	Precision string
	BatchNorm string // the training pass's BatchNormalization: BatchNormFused (default) or BatchNormKeras
}

// Config.BatchNorm: how the training pass computes BatchNormalization. Both compute Keras's
// function (batch statistics, Keras's moving-statistics updates); inference is the same.
const (
	BatchNormFused = "fused" // one FusedBatchNormV3 per layer and one gradient op: fewer passes over the activations
	BatchNormKeras = "keras" // Keras 3's decomposition, op for op: its float32 rounding exactly
)

// Model is a built graph with both modes sharing one set of variables: the inference path
// (BatchNormalization uses moving statistics) and the training path (batch statistics,
// with BNUpdates moving the statistics as Keras 3 does).
type Model struct {
	Config Config
	Graph  *tf.Graph

	Input tf.Output // float32 [-1, InputSize, InputSize, 3], preprocessed pixels

	// Inference mode.
	Features tf.Output // backbone feature map, e.g. [-1, 8, 8, 1024] for MobileNet at 256
	Logits   tf.Output // pre-softmax output of the last Dense, [-1, Classes]
	Probs    tf.Output // softmax, [-1, Classes]: by class id (0 = normal)

	// Training mode (batch statistics).
	TrainFeatures tf.Output
	TrainLogits   tf.Output
	TrainProbs    tf.Output
	BNUpdates     []*tf.Operation // assign the moving mean/variance from this batch's statistics

	// Head-only training mode (--freeze-base): the head in training mode on the
	// inference-mode features, as Keras 3 runs a non-trainable base.
	HeadTrainLogits tf.Output
	HeadBNUpdates   []*tf.Operation

	Replicas []*Replica // in-graph data-parallel replicas (BuildReplicated); none from Build

	Variables []*Variable // every variable, in Keras's weight order (model.weights)
	Layers    []LayerInfo // in Keras's layer order, for summaries

	outputs map[string]tf.Output // inference-mode output of each Keras layer (LayerOutput)
}

// LayerInfo is one row of a Keras-like model summary.
type LayerInfo struct {
	Name        string  // Keras layer name, e.g. "conv_dw_1"
	Type        string  // Keras class name, e.g. "DepthwiseConv2D"
	OutputShape []int64 // without the batch dimension
	Params      int64
	Trainable   bool
	Inputs      []string // names of the layers feeding it (Keras's "Connected to"); none for the input layer
}

// Trainable returns the variables SGD updates.
func (m *Model) Trainable() []*Variable {
	var vs []*Variable
	for _, v := range m.Variables {
		if v.Trainable {
			vs = append(vs, v)
		}
	}
	return vs
}

// NonTrainable returns the variables SGD leaves alone (BN moving statistics, a frozen base).
func (m *Model) NonTrainable() []*Variable {
	var vs []*Variable
	for _, v := range m.Variables {
		if !v.Trainable {
			vs = append(vs, v)
		}
	}
	return vs
}
