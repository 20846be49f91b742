package checkpoint

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/history"
	"github.com/xraylab/xray/trainer/step"
)

// ckptFixture is a state and tensors of the shapes a checkpoint holds (4-D kernels, 1-D
// BN statistics, a momentum slot), with random values.
func ckptFixture(t *testing.T, seed uint64) (State, map[string]*tf.Tensor, map[string][]float32) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	shapes := map[string][]int64{
		"conv1/kernel":                 {3, 3, 3, 8},
		"conv1_bn/moving_variance":     {8},
		"dense_6/bias":                 {2},
		"sgd/momentum/dense_6/kernel":  {32, 2},
		"batch_normalization/gamma":    {32},
		"conv_dw_1/kernel":             {3, 3, 8, 1},
		"block1_conv1/pointwise_probe": {1, 1, 1, 1},
	}
	tensors := map[string]*tf.Tensor{}
	values := map[string][]float32{}
	for name, shape := range shapes {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		v[0] = float32(math.Copysign(0, -1)) // signed zero and extremes survive bit for bit
		if n > 2 {
			v[1], v[2] = math.MaxFloat32, math.SmallestNonzeroFloat32
		}
		tt, err := step.Tensor(v, shape)
		if err != nil {
			t.Fatal(err)
		}
		tensors[name], values[name] = tt, v
	}
	st := State{Epoch: 3, Step: 17, Seed: 42, BestEpoch: 2, BestValLoss: 0.4321, BadEpochs: 1, ManifestHash: "abc123", Arch: "mobilenet",
		History: []history.EpochStats{
			{Epoch: 1, Loss: 0.69, Accuracy: 0.5, ValLoss: 0.7, ValAccuracy: 0.48, Seconds: 1.5},
			{Epoch: 2, Loss: 0.6, Accuracy: 0.61, ValLoss: 0.4321, ValAccuracy: 0.72, Seconds: 1.25},
			{Epoch: 3, Loss: 0.55, Accuracy: 0.7, ValLoss: 0.45, ValAccuracy: 0.7, Seconds: 1.125},
		}}
	return st, tensors, values
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st, tensors, values := ckptFixture(t, 1)
	path := filepath.Join(dir, Name(3))
	if err := Write(path, st, tensors); err != nil {
		t.Fatal(err)
	}
	got, gotT, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("state %+v, wrote %+v", got, st)
	}
	if len(gotT) != len(values) {
		t.Errorf("%d tensors, wrote %d", len(gotT), len(values))
	}
	for name, want := range values {
		g, ok := gotT[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if !slices.Equal(g.Shape(), tensors[name].Shape()) {
			t.Errorf("%s: shape %v, wrote %v", name, g.Shape(), tensors[name].Shape())
		}
		gv := flatFloats(t, g)
		for i := range want {
			if math.Float32bits(gv[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s[%d] = %v, wrote %v", name, i, gv[i], want[i])
				break
			}
		}
	}
	// Nothing but the checkpoint is left in the folder (the temp file was renamed).
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d files after one write, want 1", len(entries))
	}
}

// A run whose loss turned NaN (or whose validation never improved) must still be able
// to checkpoint and resume: JSON has no NaN or Inf.
func TestCheckpointNonFiniteState(t *testing.T) {
	path := filepath.Join(t.TempDir(), Name(1))
	_, tensors, _ := ckptFixture(t, 2)
	st := State{Epoch: 1, Step: 5, BestValLoss: math.Inf(1), History: []history.EpochStats{{Epoch: 1, Loss: math.NaN(), Accuracy: 0.5, ValLoss: math.NaN(), ValAccuracy: 0.5}}}
	if err := Write(path, st, tensors); err != nil {
		t.Fatalf("checkpoint of a diverged run: %v", err)
	}
	got, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(got.BestValLoss, 1) || !math.IsNaN(got.History[0].Loss) || !math.IsNaN(got.History[0].ValLoss) || got.History[0].Accuracy != 0.5 {
		t.Errorf("read back %+v", got)
	}
}

func TestCheckpointDamageDetected(t *testing.T) {
	dir := t.TempDir()
	st, tensors, _ := ckptFixture(t, 3)
	good := filepath.Join(dir, "good.ckpt")
	if err := Write(good, st, tensors); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := len(ckptMagic) + 8 + int(binary.LittleEndian.Uint64(b[len(ckptMagic):]))
	flip := func(i int) []byte { c := slices.Clone(b); c[i] ^= 0x10; return c }
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic only", b[:len(ckptMagic)]},
		{"cut in the header", b[:len(ckptMagic)+20]},
		{"cut in the data", b[:hdrEnd+100]},
		{"last byte missing", b[:len(b)-1]},
		{"digest missing", b[:len(b)-32]},
		{"bit flipped in the data", flip(hdrEnd + 40)},
		{"bit flipped in the header", flip(len(ckptMagic) + 12)},
		{"bit flipped in the digest", flip(len(b) - 3)},
		{"wrong magic", append([]byte("XRAYCKPT0\n"), b[len(ckptMagic):]...)},
		{"appended garbage", append(slices.Clone(b), 0, 1, 2, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".ckpt")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := Read(p)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want a corrupt-checkpoint error", err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, _, err := Read(filepath.Join(dir, "absent.ckpt")); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("missing file: %v, want a plain not-found error", err)
	}
}

func TestLatestCheckpointSkipsDamaged(t *testing.T) {
	dir := t.TempDir()
	var written []State
	for e := 1; e <= 3; e++ {
		st, tensors, _ := ckptFixture(t, uint64(e))
		st.Epoch, st.Step = e, int64(5*e)
		if err := Write(filepath.Join(dir, Name(e)), st, tensors); err != nil {
			t.Fatal(err)
		}
		written = append(written, st)
	}
	// Leftovers of a killed write and best.ckpt are not epoch checkpoints.
	os.WriteFile(filepath.Join(dir, ".epoch-0004.ckpt.tmp123"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(dir, "best.ckpt"), []byte("whatever"), 0o644)

	latest := func() (string, State, []string, bool) {
		var warns []string
		p, st, _, ok, err := Latest(dir, func(w string) { warns = append(warns, w) })
		if err != nil {
			t.Fatal(err)
		}
		return p, st, warns, ok
	}
	p, st, warns, ok := latest()
	if !ok || filepath.Base(p) != Name(3) || st.Step != 15 || len(warns) != 0 {
		t.Fatalf("intact: %s step %d warnings %v", p, st.Step, warns)
	}

	truncate(t, filepath.Join(dir, Name(3)))
	p, st, warns, ok = latest()
	if !ok || filepath.Base(p) != Name(2) || !reflect.DeepEqual(st, written[1]) {
		t.Fatalf("newest truncated: got %s (step %d), want %s", p, st.Step, Name(2))
	}
	if len(warns) != 1 || !strings.Contains(warns[0], Name(3)) {
		t.Errorf("warnings %q should name %s", warns, Name(3))
	}

	truncate(t, filepath.Join(dir, Name(2)))
	truncate(t, filepath.Join(dir, Name(1)))
	if p, _, warns, ok = latest(); ok || len(warns) != 3 {
		t.Errorf("all damaged: got %s ok=%v, warnings %q", p, ok, warns)
	}

	if _, _, _, ok, err := Latest(filepath.Join(dir, "none"), func(string) {}); ok || err != nil {
		t.Errorf("missing folder: ok=%v err=%v, want nothing and no error", ok, err)
	}
}

// truncate cuts a file to half its length, as a kill during a non-atomic write would.
func truncate(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestRepairBest: a best.ckpt from another epoch (a kill between the epoch's checkpoint
// and best.ckpt, or a resume that fell back past a damaged newest checkpoint) is replaced
// from the best epoch's own checkpoint, or reported when that is gone.
func TestRepairBest(t *testing.T) {
	dir := t.TempDir()
	var states []State
	for e := 1; e <= 2; e++ {
		st, tensors, _ := ckptFixture(t, uint64(10+e))
		st.Epoch, st.BestEpoch = e, 1
		if err := Write(filepath.Join(dir, Name(e)), st, tensors); err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
	}
	best := filepath.Join(dir, Best)
	copyFile := func(src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(best, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repair := func() []string {
		var warns []string
		if err := RepairBest(dir, states[1], func(w string) { warns = append(warns, w) }); err != nil {
			t.Fatal(err)
		}
		return warns
	}

	copyFile(filepath.Join(dir, Name(2))) // stale: epoch 2, but epoch 1 is best
	if w := repair(); len(w) != 1 || !strings.Contains(w[0], Name(1)) {
		t.Errorf("warnings %q, want one naming %s", w, Name(1))
	}
	got, gotT, err := Read(best)
	if err != nil {
		t.Fatal(err)
	}
	_, wantT, _ := Read(filepath.Join(dir, Name(1)))
	if got.Epoch != 1 || !slices.Equal(flatFloats(t, gotT["conv1/kernel"]), flatFloats(t, wantT["conv1/kernel"])) {
		t.Errorf("best.ckpt after repair holds epoch %d", got.Epoch)
	}

	if w := repair(); len(w) != 0 { // consistent now: left alone
		t.Errorf("consistent best.ckpt: warnings %q", w)
	}

	copyFile(filepath.Join(dir, Name(2)))
	os.Remove(filepath.Join(dir, Name(1)))
	if w := repair(); len(w) != 1 || !strings.Contains(w[0], "cannot be exported") {
		t.Errorf("best epoch's checkpoint gone: warnings %q", w)
	}
}

// flatFloats returns a float32 tensor's values in row-major order.
func flatFloats(t testing.TB, x *tf.Tensor) []float32 {
	t.Helper()
	out, err := tfgraph.Floats(x)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
