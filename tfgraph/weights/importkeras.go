package weights

import (
	"fmt"
	"path/filepath"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
)

// ImportConfig describes a Keras-trained paper model (backbone + head) to bring into the
// Go stack as a SavedModel.
type ImportConfig struct {
	Arch       string // tfgraph.MobileNet, Xception, InceptionV3
	Weights    string // the Keras model: .h5 (model.save / save_weights), .weights.h5 or .keras
	Out        string // SavedModel directory to write
	Pool       string // head pooling the Keras model used: avg (default) or max
	InputSize  int    // input side the Keras model was built for (default 256)
	Preprocess string // pixel scaling it was trained with: paper ([0,1], default) or imagenet ([-1,1])
}

// Import builds arch's Go graph, loads every weight of the Keras model onto it (base and
// head: a file without the head is an error) and exports the result as a SavedModel
// (savedmodels.Export, written atomically).
func Import(cfg ImportConfig) (*Report, error) {
	if cfg.Preprocess == "" {
		cfg.Preprocess = "paper"
	}
	scaling, err := preprocess.ParseScaling(cfg.Preprocess)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.Weights), err)
	}
	f, err := Open(cfg.Weights)
	if err != nil {
		return nil, err
	}
	m, err := tfgraph.Build(tfgraph.Config{Arch: cfg.Arch, InputSize: cfg.InputSize, Pool: cfg.Pool})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.Weights), err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.Weights), err)
	}
	defer sess.Close()
	rep, err := Apply(sess, m.Variables, f, Options{Mode: ModeFull, Model: cfg.Arch})
	if err != nil {
		return nil, err
	}
	meta := savedmodels.Metadata{Preprocessing: scaling, RunID: "import-keras:" + filepath.Base(cfg.Weights)}
	if err := savedmodels.Export(cfg.Out, sess, m, meta); err != nil {
		return nil, err
	}
	return rep, nil
}
