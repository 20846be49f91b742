package weights

import (
	"testing"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/tfgraph"
)

// reference returns a folder of Keras-written weight files and Keras's outputs for arch
// at size (scripts/ref/weights_keras.py).
func reference(t *testing.T, arch string, size int, extra ...string) string {
	return pyref.KerasWeights(t, arch, size, extra...)
}

func npyTensor(t *testing.T, path string) *tf.Tensor {
	t.Helper()
	shape, data := pyref.ReadNpy(t, path)
	x, err := tf.NewTensor(data)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int64, len(shape))
	for i, d := range shape {
		s[i] = int64(d)
	}
	if err := x.Reshape(s); err != nil {
		t.Fatal(err)
	}
	return x
}

// build builds arch at size; every architecture the tests name is implemented, so a failure
// is a failure (never a skip).
func build(t *testing.T, arch string, size int) *tfgraph.Model {
	t.Helper()
	m, err := tfgraph.Build(tfgraph.Config{Arch: arch, InputSize: size})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newSession(t *testing.T, g *tf.Graph) *tf.Session {
	t.Helper()
	s, err := tf.NewSession(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// flat returns a float32 tensor's values in row-major order.
func flat(t *testing.T, x *tf.Tensor) []float32 {
	t.Helper()
	var out []float32
	var walk func(v any)
	walk = func(v any) {
		switch a := v.(type) {
		case float32:
			out = append(out, a)
		case []float32:
			out = append(out, a...)
		case [][]float32:
			for _, e := range a {
				walk(e)
			}
		case [][][]float32:
			for _, e := range a {
				walk(e)
			}
		case [][][][]float32:
			for _, e := range a {
				walk(e)
			}
		default:
			t.Fatalf("unexpected tensor value %T", v)
		}
	}
	walk(x.Value())
	return out
}
