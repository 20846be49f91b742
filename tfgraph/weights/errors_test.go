package weights

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"

	"github.com/xraylab/xray/tfgraph"
)

// mobileNetRef is the MobileNet reference folder (Keras-written files, random weights).
func mobileNetRef(t *testing.T) string {
	t.Helper()
	return reference(t, tfgraph.MobileNet, 128)
}

func oneLine(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	s := err.Error()
	if strings.Contains(s, "\n") {
		t.Errorf("error is not one line: %q", s)
	}
	return s
}

// TestOpenBadFiles: truncated, corrupt and foreign files give one-line errors naming the
// file, never a panic or a partial read.
func TestOpenBadFiles(t *testing.T) {
	dir := mobileNetRef(t)
	h5, err := os.ReadFile(filepath.Join(dir, "k2_base.h5"))
	if err != nil {
		t.Fatal(err)
	}
	archive, err := os.ReadFile(filepath.Join(dir, "k3_nested.keras"))
	if err != nil {
		t.Fatal(err)
	}
	zeroed := append([]byte(nil), h5...)
	for i := 96; i < 4096; i++ { // the root group's object header, B-tree and heap
		zeroed[i] = 0
	}
	tmp := t.TempDir()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"cut3.h5", h5[:3], "truncated"},
		{"cut100.h5", h5[:100], "truncated"},
		{"cut5000.h5", h5[:5000], "truncated"},
		{"half.h5", h5[:len(h5)/2], "truncated"},
		{"lastbyte.h5", h5[:len(h5)-1], "truncated"},
		{"empty.h5", nil, "truncated"},
		{"half.keras", archive[:len(archive)/2], "truncated or corrupt"},
		{"text.h5", []byte("this is not a weight file, just text that is long enough\n"), "not an HDF5 file"},
		{"zeroed.h5", zeroed, "not a readable HDF5 file (corrupt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(tmp, c.name)
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if f != nil {
				t.Fatalf("opened a bad file: %d layers", len(f.Layers))
			}
			s := oneLine(t, err)
			if !strings.HasPrefix(s, "read weights "+c.name+": ") || !strings.Contains(s, c.want) {
				t.Errorf("error %q: want the file name and %q", s, c.want)
			}
			t.Log(s)
		})
	}
	t.Run("directory", func(t *testing.T) {
		_, err := Open(tmp)
		if s := oneLine(t, err); !strings.Contains(s, "is a directory") {
			t.Errorf("error %q", s)
		}
	})
}

// varsLike builds a graph with one zero-initialised variable per tensor of f (the layers
// and shapes the file has), edited by edit, so mismatches can be made one at a time.
func varsLike(t *testing.T, f *File, edit func(layer, weight string, shape []int64) (keep bool, newShape []int64), extra ...*Tensor) (*tf.Session, []*tfgraph.Variable) {
	t.Helper()
	s := op.NewScope()
	var vars []*tfgraph.Variable
	add := func(layer, weight string, shape []int64) {
		sh := append([]int64(nil), shape...)
		vars = append(vars, tfgraph.NewVariable(s.SubScope(layer), layer, weight, sh, true, func(s *op.Scope) tf.Output {
			return op.Fill(s, op.Const(s.SubScope("dims"), sh), op.Const(s.SubScope("zero"), float32(0)))
		}))
	}
	for _, tn := range f.Tensors() {
		w := tn.Weight
		if keep, shape := edit(tn.Layer, w, tn.Shape); keep {
			add(tn.Layer, w, shape)
		}
	}
	for _, e := range extra {
		add(e.Layer, e.Weight, e.Shape)
	}
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, g)
	if err := tfgraph.Initialize(sess, vars); err != nil {
		t.Fatal(err)
	}
	return sess, vars
}

// allZero fails the test if any variable was assigned: a failed load must assign nothing.
func allZero(t *testing.T, sess *tf.Session, vars []*tfgraph.Variable) {
	t.Helper()
	vals, err := tfgraph.Values(sess, vars)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range vals {
		for _, x := range flat(t, v) {
			if x != 0 {
				t.Fatalf("variable %s was assigned by a failed load", name)
			}
		}
	}
}

// TestApplyMismatch: a tensor of the wrong shape, a layer missing from the file, a layer
// the model lacks, and a file of another architecture each give a one-line error naming
// the file and the offending layers, and assign nothing.
func TestApplyMismatch(t *testing.T) {
	dir := mobileNetRef(t)
	path := filepath.Join(dir, "k2_base.h5")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	keepAll := func(_, _ string, shape []int64) (bool, []int64) { return true, shape }

	t.Run("matches", func(t *testing.T) {
		sess, vars := varsLike(t, f, keepAll)
		rep, err := Apply(sess, vars, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tensors != len(vars) || len(rep.Untouched) != 0 {
			t.Errorf("assigned %d of %d", rep.Tensors, len(vars))
		}
	})
	cases := []struct {
		name  string
		edit  func(layer, weight string, shape []int64) (bool, []int64)
		extra []*Tensor
		want  []string
	}{
		{
			name: "wrong shape",
			edit: func(layer, weight string, shape []int64) (bool, []int64) {
				if layer == "conv_dw_3" {
					return true, []int64{3, 3, 64, 1}
				}
				return true, shape
			},
			want: []string{"load weights k2_base.h5: does not fit the backbone of mobilenet-like: layer conv_dw_3: depthwise_kernel shape [3 3 128 1] != [3 3 64 1]"},
		},
		{
			name:  "layer missing from the file",
			edit:  keepAll,
			extra: []*Tensor{{Layer: "conv_pw_14", Weight: "kernel", Shape: []int64{1, 1, 1024, 1024}}},
			want:  []string{"load weights k2_base.h5: ", "1 layers missing from the file (conv_pw_14)"},
		},
		{
			name: "layer the model lacks",
			edit: func(layer, weight string, shape []int64) (bool, []int64) { return layer != "conv_pw_13_bn", shape },
			want: []string{"load weights k2_base.h5: ", "1 layers in the file not in the model (conv_pw_13_bn)"},
		},
		{
			name: "weights of a layer differ in number",
			edit: func(layer, weight string, shape []int64) (bool, []int64) {
				return !(layer == "conv1_bn" && weight == "gamma"), shape
			},
			want: []string{"layer conv1_bn: 4 weights in the file (gamma, beta, moving_mean, moving_variance) != 3 in the model (beta, moving_mean, moving_variance)"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sess, vars := varsLike(t, f, c.edit, c.extra...)
			_, err := Apply(sess, vars, f, Options{Model: "mobilenet-like"})
			s := oneLine(t, err)
			for _, w := range c.want {
				if !strings.Contains(s, w) {
					t.Errorf("error %q\nwant it to contain %q", s, w)
				}
			}
			allZero(t, sess, vars)
		})
	}

	// A real model: the Xception no-top file onto MobileNet, and a no-top file where the
	// whole model (base and head) is required.
	m := build(t, tfgraph.MobileNet, 128)
	sess := newSession(t, m.Graph)
	zero := func() {
		vals := map[string]*tf.Tensor{}
		for _, v := range m.Variables {
			z, _ := tf.NewTensor(make([]float32, v.NumElements()))
			if err := z.Reshape(v.Shape); err != nil {
				t.Fatal(err)
			}
			vals[v.Name] = z
		}
		if err := tfgraph.SetValues(sess, m.Variables, vals); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("another architecture", func(t *testing.T) {
		xdir := reference(t, tfgraph.Xception, 128)
		zero()
		_, err := Load(sess, m, filepath.Join(xdir, "k2_base.h5"), ModeAuto)
		s := oneLine(t, err)
		for _, w := range []string{"load weights k2_base.h5: does not fit", "mobilenet", "missing from the file (conv1, conv1_bn", "block1_conv1", "another architecture"} {
			if !strings.Contains(s, w) {
				t.Errorf("error %q\nwant it to contain %q", s, w)
			}
		}
		allZero(t, sess, m.Variables)
	})
	t.Run("no-top file as a whole model", func(t *testing.T) {
		zero()
		_, err := Load(sess, m, path, ModeFull)
		s := oneLine(t, err)
		if !strings.Contains(s, "8 layers missing from the file (dense, dense_1") {
			t.Errorf("error %q", s)
		}
		allZero(t, sess, m.Variables)
	})
	t.Run("full model at another input size", func(t *testing.T) {
		m2 := build(t, tfgraph.MobileNet, 256)
		sess2 := newSession(t, m2.Graph)
		_, err := Load(sess2, m2, filepath.Join(dir, "k2_full.h5"), ModeAuto)
		if s := oneLine(t, err); !strings.Contains(s, "layer dense: kernel shape [1024 1024] != [4096 1024]") {
			t.Errorf("error %q", s)
		}
	})
}
