package weights

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
)

// TestImport imports a Keras-trained paper model (the .keras archive Keras wrote after an
// SGD step), exports it, loads the SavedModel with TensorFlow's own loader and compares
// its serving_default probabilities with Keras's on the same batch.
func TestImport(t *testing.T) {
	dir := mobileNetRef(t)
	out := filepath.Join(t.TempDir(), "model")
	rep, err := Import(ImportConfig{Arch: tfgraph.MobileNet, Weights: filepath.Join(dir, "k3_nested.keras"), Out: out, InputSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != ModeFull || len(rep.Untouched) != 0 {
		t.Errorf("mode %s, %d variables untouched", rep.Mode, len(rep.Untouched))
	}
	sm, err := tf.LoadSavedModel(out, []string{savedmodels.ServeTag}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Session.Close()
	sig, ok := sm.Signatures[savedmodels.SignatureDefault]
	if !ok {
		t.Fatalf("no %s signature", savedmodels.SignatureDefault)
	}
	output := func(name string) tf.Output {
		parts := strings.SplitN(name, ":", 2)
		op := sm.Graph.Operation(parts[0])
		if op == nil {
			t.Fatalf("no op %s", name)
		}
		return op.Output(0)
	}
	in := output(sig.Inputs[savedmodels.InputImage].Name)
	probs := output(sig.Outputs[savedmodels.OutputProbabilities].Name)
	res, err := sm.Session.Run(map[tf.Output]*tf.Tensor{in: npyTensor(t, filepath.Join(dir, "x.npy"))}, []tf.Output{probs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, want := readNpy(t, filepath.Join(dir, "k3_nested_probs.npy"))
	if d := maxDiff(t, flat(t, res[0]), want); d > 1e-4 {
		t.Errorf("SavedModel probabilities differ from Keras by %.3g: %v vs %v", d, flat(t, res[0]), want)
	}

	t.Run("no-top file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "model")
		_, err := Import(ImportConfig{Arch: tfgraph.MobileNet, Weights: filepath.Join(dir, "k2_base.h5"), Out: out, InputSize: 128})
		if s := oneLine(t, err); !strings.Contains(s, "layers missing from the file (dense, dense_1") {
			t.Errorf("error %q", s)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("a failed import left %s", out)
		}
	})
}
