package binding

import (
	"os"
	"path/filepath"
	"testing"

	tg "github.com/galeone/tfgo"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/pyref"
)

func TestGraftAndTfgoShareOneBinding(t *testing.T) {
	// graft: build and run a graph.
	s := op.NewScope()
	sum := op.Add(s, op.Const(s.SubScope("a"), []float32{1, 2}), op.Const(s.SubScope("b"), []float32{10, 20}))
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(nil, []tf.Output{sum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Value().([]float32); got[0] != 11 || got[1] != 22 {
		t.Fatalf("graft graph: got %v, want [11 22]", got)
	}

	// tfgo: load a SavedModel written by Python TensorFlow and run its signature.
	dir := filepath.Join(t.TempDir(), "tiny")
	pyref.Run(t, pyref.Script("tiny_savedmodel.py"), dir)
	if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil {
		t.Fatal(err)
	}
	model := tg.LoadModel(dir, []string{"serve"}, nil)
	x, err := tf.NewTensor([][]float32{{1, 1}, {0, 2}})
	if err != nil {
		t.Fatal(err)
	}
	// tfgo's values are graft's: a graft *tf.Tensor goes straight in, a graft Output comes out.
	var feed *tf.Tensor = x
	res := model.Exec([]tf.Output{model.Op("StatefulPartitionedCall", 0)},
		map[tf.Output]*tf.Tensor{model.Op("serving_default_x", 0): feed})
	got := res[0].Value().([][]float32)
	// [1 1]·W + b = [4 6] + [0.5 -0.5]; [0 2]·W + b = [6 8] + [0.5 -0.5]
	want := [][]float32{{4.5, 5.5}, {6.5, 7.5}}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("tfgo SavedModel: got %v, want %v", got, want)
			}
		}
	}
}
