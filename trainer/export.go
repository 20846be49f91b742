package trainer

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/tfgraph"
)

// exportModel writes m, with the variables' values in sess, as a SavedModel. A model trained
// under a mixed precision policy is exported as the float32 graph with the trained
// float32 variables (what Keras users get after set_global_policy("float32") and
// rebuilding), so serving, its signatures and every machine see float32 only.
func exportModel(dir string, sess *tf.Session, m *tfgraph.Model, meta savedmodels.Metadata) error {
	meta.TrainingPrecision = m.Config.Precision
	if t, _ := tfgraph.ComputeType(m.Config.Precision); t == tf.Float {
		return export.SavedModel(dir, sess, m, meta)
	}
	values, err := tfgraph.Values(sess, m.Variables)
	if err != nil {
		return err
	}
	cfg := m.Config
	cfg.Precision = tfgraph.PrecisionFloat32
	m32, err := tfgraph.Build(cfg)
	if err != nil {
		return fmt.Errorf("float32 graph for export: %w", err)
	}
	sess32, err := tf.NewSession(m32.Graph, nil)
	if err != nil {
		return fmt.Errorf("float32 graph for export: %w", err)
	}
	defer sess32.Close()
	if err := tfgraph.SetValues(sess32, m32.Variables, values); err != nil {
		return fmt.Errorf("float32 graph for export: %w", err)
	}
	return export.SavedModel(dir, sess32, m32, meta)
}
