// Package savedmodelstest provides small models for tests of code that exports or
// serves SavedModels (savedmodels itself, the CLI, services), so they need no backbone.
package savedmodelstest

import (
	"math/rand"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/tfgraph"
)

// TinyModel builds a small graph shaped like a tfgraph.Model (conv + BN-like statistics +
// dense + softmax, inference and training paths sharing the variables) at input side
// size, and a session holding seeded random weights of a scale that keeps the softmax
// away from saturation, so the probabilities react to the input. Exporting and serving
// can then be tested in a second instead of a backbone's minute.
func TinyModel(t testing.TB, size int, seed int64) (*tfgraph.Model, *tf.Session) {
	t.Helper()
	return TinyModelClasses(t, size, seed, 2)
}

// TinyModelClasses is TinyModel with a softmax over the given number of classes.
func TinyModelClasses(t testing.TB, size int, seed int64, classes int) (*tfgraph.Model, *tf.Session) {
	t.Helper()
	s := op.NewScope()
	in := op.Placeholder(s.SubScope("input_layer"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, int64(size), int64(size), 3)))
	normal := func(shape ...int64) func(*op.Scope) tf.Output {
		return func(s *op.Scope) tf.Output {
			return op.RandomStandardNormal(s, op.Const(s.SubScope("shape"), shape), tf.Float, op.RandomStandardNormalSeed(seed), op.RandomStandardNormalSeed2(int64(len(shape))))
		}
	}
	var vars []*tfgraph.Variable
	layers := map[string]*op.Scope{}
	v := func(layer, weight string, trainable bool, shape ...int64) *tfgraph.Variable {
		if layers[layer] == nil {
			layers[layer] = s.SubScope(layer)
		}
		x := tfgraph.NewVariable(layers[layer], layer, weight, shape, trainable, normal(shape...))
		vars = append(vars, x)
		return x
	}
	k := v("conv1", "kernel", true, 3, 3, 3, 8)
	b := v("conv1", "bias", true, 8)
	mean := v("bn", "moving_mean", false, 8)
	dk := v("dense", "kernel", true, 8, int64(classes))
	db := v("dense", "bias", true, int64(classes))

	forward := func(s *op.Scope) (feat, logits, probs tf.Output) {
		x := op.Conv2D(s, in, k.Value, []int64{1, 2, 2, 1}, "SAME")
		x = op.Relu(s, op.BiasAdd(s, x, b.Value))
		feat = x
		x = op.Mean(s, x, op.Const(s.SubScope("axes"), []int32{1, 2}))
		x = op.Sub(s, x, mean.Value)
		logits = op.BiasAdd(s.SubScope("dense"), op.MatMul(s, x, dk.Value), db.Value)
		return feat, logits, op.Softmax(s, logits)
	}
	m := &tfgraph.Model{Config: tfgraph.Config{Arch: "tiny", InputSize: size, Seed: seed, Classes: classes}, Input: in, Variables: vars}
	m.Features, m.Logits, m.Probs = forward(s.SubScope("infer"))
	m.TrainFeatures, m.TrainLogits, m.TrainProbs = forward(s.SubScope("train"))
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(tfgraph.CleanError(err))
	}
	m.Graph = g
	sess, err := tf.NewSession(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	if err := tfgraph.Initialize(sess, vars); err != nil {
		t.Fatal(err)
	}
	// Weights of a scale that keeps the softmax away from saturation, so the
	// probabilities react to the input.
	rng := rand.New(rand.NewSource(seed))
	vals := map[string]*tf.Tensor{}
	for _, x := range vars {
		f := make([]float32, x.NumElements())
		for i := range f {
			f[i] = float32(0.3 * rng.NormFloat64())
		}
		tt, err := tf.NewTensor(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.Reshape(x.Shape); err != nil {
			t.Fatal(err)
		}
		vals[x.Name] = tt
	}
	if err := tfgraph.SetValues(sess, vars, vals); err != nil {
		t.Fatal(err)
	}
	return m, sess
}
