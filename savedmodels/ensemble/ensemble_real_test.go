package ensemble

import (
	"context"
	"path/filepath"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

// exportArch exports an untrained (Keras-initialized, seeded) backbone model.
func exportArch(t *testing.T, arch string, size int) string {
	t.Helper()
	m, err := tfgraph.Build(tfgraph.Config{Arch: arch, InputSize: size, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := tfgraph.Initialize(sess, m.Variables); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), arch)
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// servingBytes runs a SavedModel's serving_bytes on files, as TensorFlow Serving would.
func servingBytes(t *testing.T, dir string, files [][]byte) [][]float32 {
	t.Helper()
	sm, err := tf.LoadSavedModel(dir, []string{savedmodels.ServeTag}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Session.Close()
	sig := sm.Signatures[savedmodels.SignatureBytes]
	blobs := make([]string, len(files))
	for i, b := range files {
		blobs[i] = string(b)
	}
	in, err := tf.NewTensor(blobs)
	if err != nil {
		t.Fatal(err)
	}
	x, err := smgraph.TensorByName(sm.Graph, sig.Inputs[savedmodels.InputImageBytes].Name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := smgraph.TensorByName(sm.Graph, sig.Outputs[savedmodels.OutputProbabilities].Name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sm.Session.Run(map[tf.Output]*tf.Tensor{x: in}, []tf.Output{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Value().([][]float32)
}

// TestEnsembleRealArchitectures: MobileNet at 128 px and Xception at 160 px (real
// backbones: BatchNormalization, their function libraries) in one ensemble; its
// serving_bytes equals the weighted mean of the members' own serving_bytes, and savedmodels.Load
// and Explain work on it.
func TestEnsembleRealArchitectures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two backbones")
	}
	a, b := exportArch(t, tfgraph.MobileNet, 128), exportArch(t, tfgraph.Xception, 160)
	dir := ensembleT(t, []string{a, b}, Options{Weights: []float64{3, 1}})
	paths := savedmodelstest.Xrays(t, 3)
	files := savedmodelstest.ReadFiles(t, paths)
	pa, pb := servingBytes(t, a, files), servingBytes(t, b, files)
	want := make([][]float64, len(files))
	for i := range files {
		for j := range pa[i] {
			want[i] = append(want[i], 0.75*float64(pa[i][j])+0.25*float64(pb[i][j]))
		}
	}
	approx.WithinRows(t, "serving_bytes of the ensemble", servingBytes(t, dir, files), want, approx.Abs, ensembleTol)
	ens := loadT(t, dir)
	if meta := ens.Metadata(); meta.InputSize != 160 || meta.Members[0].Arch != tfgraph.MobileNet {
		t.Errorf("metadata %+v", meta)
	}
	xs, err := ens.ExplainFile(context.Background(), savedmodels.ExplainOptions{}, paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		if x.Err != nil || x.Size != 160 || len(x.Heatmap) != 160*160 {
			t.Errorf("%s: explanation %v, size %d", paths[i], x.Err, x.Size)
		}
	}
}
