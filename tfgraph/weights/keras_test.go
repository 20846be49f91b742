package weights

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/tfgraph"
)

// referenceSizes are small inputs that still give the paper's 4 x 4 head pooling a 4 x 4
// (MobileNet, Xception: 128 / 32) or 4 x 4 (InceptionV3: 192) feature map. Weights do
// not depend on the input size, except the first Dense kernel's rows.
var referenceSizes = []struct {
	arch string
	size int
}{
	{tfgraph.MobileNet, 128},
	{tfgraph.Xception, 128},
	{tfgraph.InceptionV3, 192},
}

// TestKerasFilesReproduceKeras loads files Keras itself wrote, with random weights, in
// every layout onto our Go graph and compares the graph's outputs on the same input
// batch with the outputs Keras computed: backbone features for the no-top files (the head
// is not in them), features and class probabilities for the full paper models.
func TestKerasFilesReproduceKeras(t *testing.T) {
	const tol = 1e-4
	layouts := []struct {
		file     string
		layout   Layout
		mode     Mode
		features string
		probs    string
	}{
		{"k2_base.h5", LegacyWeights, ModeBase, "k2_base_features.npy", ""},
		{"k2_base_imagenet.h5", LegacyWeights, ModeBase, "k2_base_features.npy", ""},
		{"k2_full.h5", LegacyModel, ModeFull, "k2_full_features.npy", "k2_full_probs.npy"},
		{"k2_nested.h5", LegacyModel, ModeFull, "k2_full_features.npy", "k2_nested_probs.npy"},
		{"k3_full.weights.h5", Keras3Weights, ModeFull, "k3_full_features.npy", "k3_full_probs.npy"},
		{"k3_nested.keras", Keras3Archive, ModeFull, "k3_nested_features.npy", "k3_nested_probs.npy"},
	}
	for _, ref := range referenceSizes {
		t.Run(ref.arch, func(t *testing.T) {
			m := build(t, ref.arch, ref.size)
			dir := reference(t, ref.arch, ref.size)
			sess := newSession(t, m.Graph)
			x := npyTensor(t, filepath.Join(dir, "x.npy"))
			kerasLayers := countLines(t, filepath.Join(dir, "layers.txt"))
			for _, lc := range layouts {
				t.Run(lc.file, func(t *testing.T) {
					if err := tfgraph.Initialize(sess, m.Variables); err != nil {
						t.Fatal(err)
					}
					before, err := tfgraph.Values(sess, m.Variables)
					if err != nil {
						t.Fatal(err)
					}
					rep, err := Load(sess, m, filepath.Join(dir, lc.file), ModeAuto)
					if err != nil {
						t.Fatal(err)
					}
					if rep.Layout != lc.layout || rep.Mode != lc.mode {
						t.Errorf("layout %s mode %s, want %s %s", rep.Layout, rep.Mode, lc.layout, lc.mode)
					}
					if lc.mode == ModeFull && rep.Layers != kerasLayers {
						t.Errorf("assigned %d layers, Keras's model has %d layers with weights", rep.Layers, kerasLayers)
					}
					t.Logf("%s; renamed %d (%s)", rep, len(rep.Renamed), strings.Join(firstFew(rep.Renamed, 3), ", "))

					fetches := []tf.Output{m.Features}
					if lc.probs != "" {
						fetches = append(fetches, m.Probs)
					}
					out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, fetches, nil)
					if err != nil {
						t.Fatal(err)
					}
					_, wantF := pyref.ReadNpy(t, filepath.Join(dir, lc.features))
					// |Go - Keras| / max(1, |Keras|): feature maps of unbounded activations.
					approx.Within(t, "backbone features vs Keras", flat(t, out[0]), wantF, approx.AbsRel, tol)
					if lc.probs != "" {
						_, wantP := pyref.ReadNpy(t, filepath.Join(dir, lc.probs))
						approx.Within(t, "probabilities vs Keras", flat(t, out[1]), wantP, approx.Abs, tol)
					}

					// A no-top file sets the backbone only: the head keeps its initial values.
					after, err := tfgraph.Values(sess, m.Variables)
					if err != nil {
						t.Fatal(err)
					}
					for _, v := range m.Variables {
						same := approx.Max(t, v.Name, flat(t, after[v.Name]), flat(t, before[v.Name]), approx.Abs).Max == 0
						if lc.mode == ModeBase && v.Head && !same {
							t.Errorf("head variable %s changed by a no-top file", v.Name)
						}
						if (!v.Head || lc.mode == ModeFull) && same && v.NumElements() > 4 {
							t.Errorf("variable %s kept its initial value", v.Name)
						}
					}
				})
			}
		})
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Split(strings.TrimSpace(string(b)), "\n"))
}
