package tfgraph

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/pyref"
)

// gradcamTolerance is the bound on |Go - Keras| of the [0, 1]-scaled heatmaps.
const gradcamTolerance = 1e-4

// gradcamCases: every architecture at a small side (MobileNet at 128, the others at
// their smallest input, a 4 x 4 feature map) to keep the suite short; each also explains
// its stride-16 layer (ExplainLayers, the margin's default).
var gradcamCases = []struct {
	cfg    Config
	layers []string
}{
	{Config{Arch: MobileNet, InputSize: 128, Pool: PoolAvg}, []string{"conv_pw_13_relu", "conv_pw_11_relu"}},
	{Config{Arch: Xception, InputSize: 103, Pool: PoolAvg}, []string{"block14_sepconv2_act", "block13_sepconv2_act"}},
	{Config{Arch: InceptionV3, InputSize: 171, Pool: PoolAvg}, []string{"mixed10", "mixed7"}},
}

// TestGradCAMMatchesKeras sets the Keras reference's random weights (randomised BN
// statistics) and compares the Grad-CAM heatmaps of four real X-rays, for the predicted
// class and for each class by id, with tf.GradientTape on the Keras model
// (scripts/ref/gradcam_keras.py).
func TestGradCAMMatchesKeras(t *testing.T) {
	for _, c := range gradcamCases {
		t.Run(fmt.Sprintf("%s_%d", c.cfg.Arch, c.cfg.InputSize), func(t *testing.T) {
			ref := gradcamReference(t, c.cfg, c.layers)
			m, err := Build(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if GradCAMLayers[c.cfg.Arch] != c.layers[0] || m.outputs[c.layers[0]] != m.Features {
				t.Fatalf("default Grad-CAM layer %q is not the feature map", GradCAMLayers[c.cfg.Arch])
			}
			if ExplainLayers[c.cfg.Arch] != c.layers[1] {
				t.Fatalf("the margin's default layer %q is not checked here", ExplainLayers[c.cfg.Arch])
			}
			sess, err := tf.NewSession(m.Graph, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			values := map[string]*tf.Tensor{}
			for _, v := range m.Variables {
				values[v.Name] = ref.tensor(t, "w/"+v.Name)
			}
			if err := SetValues(sess, m.Variables, values); err != nil {
				t.Fatal(err)
			}
			x := ref.tensor(t, "x")
			pred := predicted(t, sess, m, x)
			want, _ := ref.array(t, "pred")
			for i := range pred {
				if float32(pred[i]) != want[i] {
					t.Fatalf("predicted classes %v, Keras %v", pred, want)
				}
			}
			for _, layer := range c.layers {
				for _, method := range CAMMethods {
					checkCAM(t, sess, m, ref, method, layer, x, pred)
				}
			}
		})
	}
}

// checkCAM compares method's heatmaps of layer, for the predicted class and each class by
// id, with the reference's (heat/ for plain Grad-CAM, margin/ for the margin target).
func checkCAM(t *testing.T, sess *tf.Session, m *Model, ref *kerasRef, method, layer string, x *tf.Tensor, pred []int64) {
	t.Helper()
	n := x.Shape()[0]
	prefix := map[string]string{CAMGradCAM: "heat", CAMMargin: "margin"}[method]
	class, heat, err := m.CAM(method, layer)
	if err != nil {
		t.Fatal(err)
	}
	for _, which := range []string{"pred", "0", "1"} {
		ids := pred
		if which != "pred" {
			k, _ := strconv.Atoi(which)
			ids = slices.Repeat([]int64{int64(k)}, int(n))
		}
		ct, _ := tf.NewTensor(ids)
		out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x, class: ct}, []tf.Output{heat}, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := prefix + "/" + layer + "/" + which
		d := ref.within(t, name, out[0], gradcamTolerance)
		t.Logf("%-32s max |Go - Keras| = %.3g", name, d.Max)
	}
}

func predicted(t *testing.T, sess *tf.Session, m *Model, x *tf.Tensor) []int64 {
	t.Helper()
	out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, []tf.Output{m.Logits}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pred []int64
	for _, row := range out[0].Value().([][]float32) {
		pred = append(pred, int64(slices.Index(row, slices.Max(row))))
	}
	return pred
}

// gradcamReference runs (or finds cached) scripts/ref/gradcam_keras.py for cfg.
func gradcamReference(t *testing.T, cfg Config, layers []string) *kerasRef {
	t.Helper()
	script := pyref.Script("gradcam_keras.py")
	images := testImages(t)
	args := []string{"--arch", cfg.Arch, "--size", strconv.Itoa(cfg.InputSize), "--pool", cfg.Pool}
	for _, l := range layers {
		args = append(args, "--layer", l)
	}
	key := append([]string{"gradcam_keras.py", pyref.FileHash(t, script), pyref.FileHash(t, pyref.Script(refScript))}, args...)
	for _, p := range images {
		key = append(key, pyref.FileHash(t, p))
	}
	dir := pyref.CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(dir, "ref.npz")); err != nil {
		pyref.Run(t, script, append(append(args, "--out", dir), images...)...)
	}
	r, err := npz.Open(filepath.Join(dir, "ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &kerasRef{npz: r}
}

// TestGradCAMBadLayer: a layer the model lacks, or one without a feature map, is an error
// that names it, never a panic.
func TestGradCAMBadLayer(t *testing.T) {
	m, err := Build(Config{Arch: MobileNet, InputSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.GradCAM("conv_pw_99_relu"); !errors.Is(err, ErrUnknownLayer) {
		t.Errorf("unknown layer: %v, want ErrUnknownLayer", err)
	} else {
		t.Log(err)
	}
	if _, _, err := m.GradCAM("dense_1"); err == nil {
		t.Error("a Dense layer explained without error")
	} else {
		t.Log(err)
	}
}
