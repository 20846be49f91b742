package benchutil

import (
	"path/filepath"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/tfgraph"
)

// UntrainedModel exports a MobileNet of size x size inputs with its initial (random)
// weights to a temporary SavedModel and returns its folder: what a speed benchmark needs
// when the weights do not matter.
func UntrainedModel(b testing.TB, size int) string {
	b.Helper()
	m, err := tfgraph.Build(tfgraph.Config{Arch: tfgraph.MobileNet, InputSize: size})
	if err != nil {
		b.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	if err := tfgraph.Initialize(sess, m.Variables); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "bench"}); err != nil {
		b.Fatal(err)
	}
	return dir
}
