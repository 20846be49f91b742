package step

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/gradients"
)

// TestLossScaleMatchesKeras steps the trainer's loss scaling (scaleLoss, the gradients,
// applyGradients: what Build builds under mixed_float16) and Keras 3's
// LossScaleOptimizer(SGD(0.01, momentum 0.9)) (scripts/ref/loss_scale_keras.py) on the
// same small loss for 2010 steps, two of them (3 and 4) with a planted inf gradient:
// the scale sequence (2^15, halved twice, doubled after 2000 finite steps), the step
// counter and the weight after every step (skipped steps leave the weight and the momentum
// alone) must match. Both sides divide by a power of two and run the same float32 SGD
// update, so they agree to float32 rounding (bound 1e-6 relative; measured 0).
func TestLossScaleMatchesKeras(t *testing.T) {
	pyref.Require(t)
	const steps = 2010
	script := pyref.Script("loss_scale_keras.py")
	args := []string{"--steps", "2010", "--inf", "3,4", "--lr", "0.01", "--momentum", "0.9"}
	out := filepath.Join(pyref.CacheDir(t, append([]string{"loss_scale_keras", pyref.FileHash(t, script)}, args...)...), "ref.npz")
	if _, err := os.Stat(out); err != nil {
		pyref.Run(t, script, append(args, "--out", out)...)
	}
	r, err := npz.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := func(name string, n int) []float32 {
		var v []float32
		if err := r.Read(name+".npy", &v); err != nil || len(v) != n {
			t.Fatalf("reference %s: %d values, want %d (%v)", name, len(v), n, err)
		}
		return v
	}
	x, w0, wantScale, wantCounter, wantW := read("x", steps*3), read("w0", 3), read("scale", steps), read("counter", steps), read("w", steps*3)
	// The reference must show what the test is about: a skipped step, a halving, a growth.
	if !(wantScale[1] == 1<<15 && wantScale[3] == 1<<13 && wantScale[steps-1] == 1<<14) || !slices.Equal(wantW[3:6], wantW[6:9]) {
		t.Fatalf("the reference shows no skip/halve/grow sequence: scale %v ... %v", wantScale[:6], wantScale[steps-1])
	}

	sess, feed, fetch, stepOps := lossScaleGraph(t, w0)
	defer sess.Close()
	gotScale, gotCounter, gotW := make([]float32, steps), make([]float32, steps), make([]float32, 0, steps*3)
	for k := range steps {
		xk, err := tf.NewTensor(x[3*k : 3*k+3])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{feed: xk}, nil, stepOps); err != nil {
			t.Fatalf("step %d: %v", k+1, err)
		}
		v, err := sess.Run(nil, fetch, nil)
		if err != nil {
			t.Fatal(err)
		}
		gotW = append(gotW, v[0].Value().([]float32)...)
		gotScale[k], gotCounter[k] = v[1].Value().(float32), v[2].Value().(float32)
	}
	approx.Within(t, "dynamic_scale after each step", gotScale, wantScale, approx.Abs, 0)
	approx.Within(t, "step_counter after each step", gotCounter, wantCounter, approx.Abs, 0)
	d := approx.Within(t, "weight after each step", gotW, wantW, approx.AbsRel, 1e-6)
	t.Logf("MEASURED weights vs Keras over %d steps: %v", steps, d)
}

// lossScaleGraph builds loss = sum(w * x) with w [3] starting at w0, and one SGD step
// (lr 0.01, momentum 0.9) under dynamic loss scaling; it returns the session, the x feed,
// the fetches (w, scale, counter) and the step's ops.
func lossScaleGraph(t *testing.T, w0 []float32) (*tf.Session, tf.Output, []tf.Output, []*tf.Operation) {
	t.Helper()
	s := op.NewScope()
	w := tfgraph.NewVariable(s.SubScope("w"), "w", "kernel", []int64{3}, true, func(s *op.Scope) tf.Output { return op.Const(s, w0) })
	x := op.Placeholder(s.SubScope("x"), tf.Float, op.PlaceholderShape(tf.MakeShape(3)))
	loss := op.Sum(s.SubScope("loss"), op.Mul(s.SubScope("wx"), w.Value, x), op.Const(s.SubScope("axis"), []int32{0}))
	ls := newLossScale(s)
	grads, err := gradients.Add(s.SubScope("gradients"), []tf.Output{ls.scaleLoss(s, loss)}, []tf.Output{w.Value})
	if err != nil {
		t.Fatal(err)
	}
	us := s.SubScope("update").WithControlDependencies(loss.Op)
	o := Options{Optimizer: OptimizerSGD, Momentum: 0.9, LossScale: true}
	stepOps, slots := applyGradients(us, s, o, optimizerGraph{LR: op.Const(us.SubScope("lr"), float32(0.01))}, ls, []*tfgraph.Variable{w}, grads)
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tfgraph.Initialize(sess, append([]*tfgraph.Variable{w}, slots...)); err != nil {
		t.Fatal(err)
	}
	return sess, x, []tf.Output{w.Value, ls.scale.Value, ls.counter.Value}, stepOps
}
