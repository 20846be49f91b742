package gradients

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/pyref"
)

// square builds x (a [2] float64 placeholder) and y = x*x; d(sum y)/dx = 2x.
func square(s *op.Scope) (x, y tf.Output) {
	x = op.Placeholder(s.SubScope("x"), tf.Double, op.PlaceholderShape(tf.MakeShape(2)))
	return x, op.Mul(s.SubScope("square"), x, x)
}

func TestAddRejectsBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		call func() ([]tf.Output, error)
		want string
	}{
		{"nil scope", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			return Add(nil, []tf.Output{y}, []tf.Output{x})
		}, "nil scope"},
		{"nil graph", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			return AddToGraph(nil, []tf.Output{y}, []tf.Output{x})
		}, "nil graph"},
		{"no ys", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, _ := square(s)
			return Add(s, nil, []tf.Output{x})
		}, "no ys"},
		{"no xs", func() ([]tf.Output, error) {
			s := op.NewScope()
			_, y := square(s)
			return Add(s, []tf.Output{y}, nil)
		}, "no xs"},
		{"empty Output in ys", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, _ := square(s)
			return Add(s, []tf.Output{{}}, []tf.Output{x})
		}, "ys[0] is an empty Output"},
		{"output index out of range", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			return Add(s, []tf.Output{y}, []tf.Output{x, {Op: x.Op, Index: 3}})
		}, "xs[1] x/Placeholder:3: op has 1 outputs"},
		{"seed count", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			return Add(s, []tf.Output{y}, []tf.Output{x}, WithSeeds(x, x))
		}, "2 seeds for 1 ys"},
		{"seed type", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			return Add(s, []tf.Output{y}, []tf.Output{x}, WithSeeds(op.Const(s.SubScope("seed"), []float32{1, 1})))
		}, "seeds[0] seed/Const:0 (Const) is float32 but ys[0] square/Mul:0 (Mul) is float64"},
		{"scope already failed", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			op.Const(s.SubScope("bad"), struct{}{})
			return Add(s, []tf.Output{y}, []tf.Output{x})
		}, "the scope already holds an error"},
		{"scope with control dependencies", func() ([]tf.Output, error) {
			s := op.NewScope()
			x, y := square(s)
			return Add(s.WithControlDependencies(y.Op), []tf.Output{y}, []tf.Output{x})
		}, "control dependencies"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dxs, err := c.call()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got (%v, %v), want an error containing %q", dxs, err, c.want)
			}
			if strings.Contains(err.Error(), "Stacktrace") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line without graft's stack trace: %q", err)
			}
		})
	}
}

// TestOpsWithoutGradientAreExplained checks the replacements registry against this
// TensorFlow build: each listed op really has no gradient, and Add's error names the node,
// its type and the replacement.
func TestOpsWithoutGradientAreExplained(t *testing.T) {
	f := func(s *op.Scope, v []float32) tf.Output { return op.Const(s, v) }
	builders := map[string]func(s *op.Scope, x tf.Output) tf.Output{
		"Concat": func(s *op.Scope, x tf.Output) tf.Output {
			return op.Concat(s, op.Const(s.SubScope("axis"), int32(0)), []tf.Output{x, x})
		},
		"FusedBatchNorm": func(s *op.Scope, x tf.Output) tf.Output {
			e := f(s.SubScope("empty"), []float32{})
			y, _, _, _, _ := op.FusedBatchNorm(s, op.Reshape(s.SubScope("nhwc"), x, op.Const(s.SubScope("shape"), []int32{1, 2, 1, 1})),
				f(s.SubScope("gamma"), []float32{1}), f(s.SubScope("beta"), []float32{0}), e, e, op.FusedBatchNormIsTraining(true))
			return y
		},
		"FusedBatchNormV2": func(s *op.Scope, x tf.Output) tf.Output {
			e := f(s.SubScope("empty"), []float32{})
			y, _, _, _, _ := op.FusedBatchNormV2(s, op.Reshape(s.SubScope("nhwc"), x, op.Const(s.SubScope("shape"), []int32{1, 2, 1, 1})),
				f(s.SubScope("gamma"), []float32{1}), f(s.SubScope("beta"), []float32{0}), e, e, op.FusedBatchNormV2IsTraining(true))
			return y
		},
		"Switch": func(s *op.Scope, x tf.Output) tf.Output {
			_, whenTrue := op.Switch(s, x, op.Const(s.SubScope("training"), true))
			return whenTrue
		},
		"Merge": func(s *op.Scope, x tf.Output) tf.Output {
			m, _ := op.Merge(s, []tf.Output{x, op.Neg(s.SubScope("neg"), x)})
			return m
		},
		"SparseSoftmaxCrossEntropyWithLogits": func(s *op.Scope, x tf.Output) tf.Output {
			loss, _ := op.SparseSoftmaxCrossEntropyWithLogits(s, op.Reshape(s.SubScope("rows"), x, op.Const(s.SubScope("shape"), []int32{1, 2})), op.Const(s.SubScope("labels"), []int32{1}))
			return loss
		},
		"MulNoNan": func(s *op.Scope, x tf.Output) tf.Output { return op.MulNoNan(s, x, x) },
	}
	for typ, fix := range replacements {
		t.Run(typ, func(t *testing.T) {
			build, ok := builders[typ]
			if !ok {
				t.Fatalf("replacements lists %s but this test has no graph for it: add one", typ)
			}
			for _, toGraph := range []bool{false, true} {
				s := op.NewScope()
				x := op.Placeholder(s.SubScope("x"), tf.Float, op.PlaceholderShape(tf.MakeShape(2)))
				y := op.Square(s.SubScope("loss"), build(s.SubScope("layer"), op.Identity(s.SubScope("id"), x)))
				var err error
				if toGraph {
					var g *tf.Graph
					if g, err = s.Finalize(); err != nil {
						t.Fatal(err)
					}
					_, err = AddToGraph(g, []tf.Output{y}, []tf.Output{x})
				} else {
					if err = s.Err(); err != nil {
						t.Fatal(err)
					}
					_, err = Add(s, []tf.Output{y}, []tf.Output{x})
				}
				if err == nil {
					t.Fatalf("%s now has a gradient in this TensorFlow build: remove it from replacements (and use it if useful)", typ)
				}
				for _, want := range []string{"op layer/" + typ + " (" + typ + ")", fix} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("AddToGraph=%v: error %q lacks %q", toGraph, err, want)
					}
				}
			}
		})
	}
}

func TestUnconnectedInputs(t *testing.T) {
	build := func() (*op.Scope, tf.Output, []tf.Output) {
		s := op.NewScope()
		x, y := square(s)
		unused := op.Placeholder(s.SubScope("unused"), tf.Double, op.PlaceholderShape(tf.MakeShape(3)))
		stopped := op.Placeholder(s.SubScope("stopped"), tf.Double, op.PlaceholderShape(tf.MakeShape(2)))
		y = op.AddV2(s.SubScope("plus"), y, op.StopGradient(s.SubScope("stop"), stopped))
		return s, y, []tf.Output{x, unused, stopped}
	}

	s, y, xs := build()
	_, err := Add(s, []tf.Output{y}, xs)
	for _, want := range []string{"xs[1] unused/Placeholder:0", "xs[2] stopped/Placeholder:0", "ZerosForUnconnected"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Add with unconnected xs: error %v, want it to name %q", err, want)
		}
	}

	s, y, xs = build()
	dxs, err := Add(s, []tf.Output{y}, xs, ZerosForUnconnected())
	if err != nil {
		t.Fatalf("Add with ZerosForUnconnected: %v", err)
	}
	sess := session(t, s)
	feeds := map[tf.Output]*tf.Tensor{}
	for i, v := range [][]float64{{1.5, -2}, {1, 2, 3}, {4, 5}} {
		tt, err := tf.NewTensor(v)
		if err != nil {
			t.Fatal(err)
		}
		feeds[xs[i]] = tt
	}
	got := fetchAll(t, sess, feeds, dxs)
	want := [][]float64{{3, -4}, {0, 0, 0}, {0, 0}} // 2x; zeros shaped like unused and stopped
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("gradient %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestAddToGraphPicksAFreePrefix adds gradients twice to a finished graph that already has
// an op under "gradients": each call must find its own prefix and give 2x.
func TestAddToGraphPicksAFreePrefix(t *testing.T) {
	s := op.NewScope()
	x, y := square(s)
	op.Const(s.SubScope("gradients"), 1.0)
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	var all []tf.Output
	for i := 0; i < 2; i++ {
		dxs, err := AddToGraph(g, []tf.Output{y}, []tf.Output{x})
		if err != nil {
			t.Fatalf("AddToGraph call %d: %v", i+1, err)
		}
		all = append(all, dxs...)
	}
	for i, d := range all {
		if want := []string{"gradients_1/", "gradients_2/"}[i]; !strings.HasPrefix(d.Op.Name(), want) {
			t.Errorf("call %d put its gradient at %s, want under %s", i+1, d.Op.Name(), want)
		}
	}
	sess, err := tf.NewSession(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	xt, _ := tf.NewTensor([]float64{0.5, -3})
	got := fetchAll(t, sess, map[tf.Output]*tf.Tensor{x: xt}, all)
	for i := range got {
		if !slices.Equal(got[i], []float64{1, -6}) {
			t.Errorf("call %d: d(sum x²)/dx = %v, want [1 -6]", i+1, got[i])
		}
	}
}

// TestAddTwiceInOneScope: the trainer may take gradients of two losses (full and head-only
// training) in one scope; graft does not make names unique, Add must.
func TestAddTwiceInOneScope(t *testing.T) {
	s := op.NewScope()
	x, y := square(s)
	first, err := Add(s, []tf.Output{y}, []tf.Output{x})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Add(s, []tf.Output{op.Neg(s.SubScope("neg"), y)}, []tf.Output{x})
	if err != nil {
		t.Fatalf("second Add in the same scope: %v", err)
	}
	sess := session(t, s)
	xt, _ := tf.NewTensor([]float64{2, 3})
	got := fetchAll(t, sess, map[tf.Output]*tf.Tensor{x: xt}, []tf.Output{first[0], second[0]})
	if !slices.Equal(got[0], []float64{4, 6}) || !slices.Equal(got[1], []float64{-4, -6}) {
		t.Errorf("gradients %v, want [4 6] and [-4 -6]", got)
	}
}

// TestKerasTrainingOpsAreCovered asks Keras which op types lie between the trainable
// variables and the loss when it trains each backbone under the paper's head, and checks
// that every one is checked against finite differences by a row of opCases (ReadVariableOp
// by TestGradientsThroughResourceVariables).
func TestKerasTrainingOpsAreCovered(t *testing.T) {
	script := filepath.Join("testdata", "keras_train_ops.py")
	cache := filepath.Join(pyref.CacheDir(t, "keras_train_ops", pyref.FileHash(t, script)), "ops.json")
	out, err := os.ReadFile(cache)
	if err != nil {
		out = pyref.Run(t, script)
		tmp := cache + ".tmp"
		if err := os.WriteFile(tmp, out, 0o644); err == nil {
			_ = os.Rename(tmp, cache)
		}
	}
	var models map[string][]string
	if err := json.Unmarshal(out, &models); err != nil {
		t.Fatalf("reference output: %v\n%s", err, out)
	}
	if len(models) == 0 {
		t.Fatal("reference listed no models")
	}
	covered := map[string]bool{"ReadVariableOp": true}
	for _, c := range opCases(t) {
		for _, o := range c.ops {
			covered[o] = true
		}
	}
	for name, types := range models {
		if len(types) < 10 {
			t.Errorf("%s: only %d op types on gradient paths (%v): the reference script is broken", name, len(types), types)
		}
		for _, typ := range types {
			if !covered[typ] {
				t.Errorf("Keras trains %s through %s, which no case in opCases checks: add a row", name, typ)
			}
		}
		t.Logf("%s: %v", name, types)
	}
}
