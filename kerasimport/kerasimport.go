// Package kerasimport brings a Keras-trained paper model (backbone + head) into the Go
// stack: it builds the architecture's graph with tfgraph, loads every Keras weight onto it
// with tfgraph/weights and exports the result with savedmodels, so the model is served and
// evaluated like one trained in Go.
//
//	rep, err := kerasimport.Import(kerasimport.Config{Arch: tfgraph.MobileNet,
//		Weights: "paper_mobilenet.h5", Out: "runs/keras-mobilenet/savedmodel"})
package kerasimport

import (
	"fmt"
	"path/filepath"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/internal/tflog"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/weights"
)

// Config describes the Keras model to import.
type Config struct {
	Arch      string             // tfgraph.MobileNet, Xception, InceptionV3
	Weights   string             // the Keras model: .h5 (model.save / save_weights), .weights.h5 or .keras
	Out       string             // SavedModel directory to write
	Pool      string             // head pooling the Keras model used: avg (default) or max
	InputSize int                // input side the Keras model was built for (default 256)
	Scaling   preprocess.Scaling // pixel scaling it was trained with; default preprocess.Unit
}

// Import builds cfg.Arch's graph, loads every weight of the Keras model onto it (base and
// head: a file without the head is an error) and exports the result as a SavedModel
// (export.SavedModel, written atomically: a failed import leaves no Out).
func Import(cfg Config) (*weights.Report, error) {
	if cfg.Scaling == "" {
		cfg.Scaling = preprocess.Unit
	}
	if _, err := cfg.Scaling.MarshalText(); err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.Weights), err)
	}
	f, err := weights.Open(cfg.Weights)
	if err != nil {
		return nil, err
	}
	m, err := tfgraph.Build(tfgraph.Config{Arch: cfg.Arch, InputSize: cfg.InputSize, Pool: cfg.Pool})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.Weights), err)
	}
	tflog.Once(nil)
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.Weights), err)
	}
	defer sess.Close()
	rep, err := weights.Apply(sess, m.Variables, f, weights.Options{Mode: weights.ModeFull, Model: cfg.Arch})
	if err != nil {
		return nil, err
	}
	meta := savedmodels.Metadata{Preprocessing: cfg.Scaling, RunID: "import-keras:" + filepath.Base(cfg.Weights)}
	if err := export.SavedModel(cfg.Out, sess, m, meta); err != nil {
		return nil, err
	}
	return rep, nil
}
