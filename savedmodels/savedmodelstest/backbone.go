package savedmodelstest

import (
	"math"
	"math/rand"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/tfgraph"
)

// Backbone builds cfg's network (a real MobileNet, Xception or InceptionV3 and the
// paper's head) with seeded random weights that keep the signal alive through all layers
// (He-normal by true fan-in; Keras's initial weights make the depthwise kernels so small
// that every input gives the same output), and BatchNormalization statistics off their
// initial 0 and 1 so they matter. Tests of what depends on BatchNormalization (export,
// adaptation) use it at the architecture's smallest input size.
func Backbone(t testing.TB, cfg tfgraph.Config) (*tfgraph.Model, *tf.Session) {
	t.Helper()
	m, err := tfgraph.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	rng := rand.New(rand.NewSource(cfg.Seed))
	vals := map[string]*tf.Tensor{}
	for _, v := range m.Variables {
		var f func() float64
		switch v.Weight {
		case "kernel", "depthwise_kernel", "pointwise_kernel":
			fanIn := int64(1)
			for _, d := range v.Shape[:len(v.Shape)-1] {
				fanIn *= d
			}
			if len(v.Shape) == 4 && v.Shape[3] == 1 && v.Weight == "depthwise_kernel" { // each channel sees kh*kw inputs
				fanIn = v.Shape[0] * v.Shape[1]
			}
			sd := math.Sqrt(2 / float64(fanIn))
			f = func() float64 { return sd * rng.NormFloat64() }
		case "moving_variance", "gamma":
			f = func() float64 { return 0.8 + 0.4*rng.Float64() }
		default: // moving_mean, beta, bias
			f = func() float64 { return 0.05 * rng.NormFloat64() }
		}
		x := make([]float32, v.NumElements())
		for i := range x {
			x[i] = float32(f())
		}
		tt, err := tf.NewTensor(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.Reshape(v.Shape); err != nil {
			t.Fatal(err)
		}
		vals[v.Name] = tt
	}
	if err := tfgraph.SetValues(sess, m.Variables, vals); err != nil {
		t.Fatal(err)
	}
	return m, sess
}
