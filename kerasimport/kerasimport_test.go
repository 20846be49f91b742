package kerasimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/weights"
)

// TestImport imports a Keras-trained paper model (the .keras archive Keras wrote after an
// SGD step), exports it, loads the SavedModel with TensorFlow's own loader and compares
// its serving_default probabilities with Keras's on the same batch.
func TestImport(t *testing.T) {
	dir := pyref.KerasWeights(t, tfgraph.MobileNet, 128)
	out := filepath.Join(t.TempDir(), "model")
	rep, err := Import(Config{Arch: tfgraph.MobileNet, Weights: filepath.Join(dir, "k3_nested.keras"), Out: out, InputSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != weights.ModeFull || len(rep.Untouched) != 0 {
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
		op := sm.Graph.Operation(strings.SplitN(name, ":", 2)[0])
		if op == nil {
			t.Fatalf("no op %s", name)
		}
		return op.Output(0)
	}
	shape, x := pyref.ReadNpy(t, filepath.Join(dir, "x.npy"))
	in, err := tf.NewTensor(x)
	if err != nil {
		t.Fatal(err)
	}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	if err := in.Reshape(dims); err != nil {
		t.Fatal(err)
	}
	res, err := sm.Session.Run(map[tf.Output]*tf.Tensor{output(sig.Inputs[savedmodels.InputImage].Name): in},
		[]tf.Output{output(sig.Outputs[savedmodels.OutputProbabilities].Name)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tfgraph.Floats(res[0])
	if err != nil {
		t.Fatal(err)
	}
	_, want := pyref.ReadNpy(t, filepath.Join(dir, "k3_nested_probs.npy"))
	approx.Within(t, "SavedModel probabilities vs Keras", got, want, approx.Abs, 1e-4)

	t.Run("no-top file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "model")
		_, err := Import(Config{Arch: tfgraph.MobileNet, Weights: filepath.Join(dir, "k2_base.h5"), Out: out, InputSize: 128})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "layers missing from the file (dense, dense_1") {
			t.Errorf("error %v: want one line naming the missing head layers", err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("a failed import left %s", out)
		}
	})
	t.Run("unknown scaling", func(t *testing.T) {
		_, err := Import(Config{Arch: tfgraph.MobileNet, Weights: filepath.Join(dir, "k3_nested.keras"), Out: filepath.Join(t.TempDir(), "m"), InputSize: 128, Scaling: "caffe"})
		if !errors.Is(err, preprocess.ErrScaling) {
			t.Errorf("error %v, want preprocess.ErrScaling", err)
		}
	})
}
