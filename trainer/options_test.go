package trainer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/weights"
	"github.com/xraylab/xray/trainer/checkpoint"
)

// A tiny job for the flag tests: 12 sample X-rays to train on (3 steps of 4 per epoch),
// 4 to validate, MobileNet at 128 from scratch.
var (
	tinyOnce     sync.Once
	tinyManifest string
)

func tinyConfig(t *testing.T) Config {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: trains MobileNet")
	}
	tinyOnce.Do(func() {
		imgs := sampleImages(t)
		dir := filepath.Join(binDir, "tiny")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		entries := append(interleave(imgs, 0, 12, dataset.Train), interleave(imgs, 6, 4, dataset.Val)...)
		tinyManifest = writeManifest(t, filepath.Join(dir, "manifest.csv"), sampleRoot(), entries)
	})
	cfg := testConfig(tfgraph.MobileNet, 128, tinyManifest, filepath.Join(t.TempDir(), "run"))
	cfg.BatchSize = 4
	return cfg
}

// TestMaxSteps: --max-steps 5 with 3 steps per epoch stops 2 steps into epoch 2, and
// records that epoch (as Keras would report a partial epoch); run.json says all of it.
func TestMaxSteps(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Epochs, cfg.MaxSteps = 4, 5
	var log bytes.Buffer
	cfg.Logger = progress.Lines(&log, "")
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 5 || res.Epochs != 2 || len(res.History) != 2 {
		t.Fatalf("stopped after %d steps, %d epochs (%d in history); want 5 steps in 2 epochs", res.Steps, res.Epochs, len(res.History))
	}
	if !strings.Contains(log.String(), "step limit 5 reached") {
		t.Errorf("the log does not say why it stopped:\n%s", log.String())
	}
	// The default device (auto) says what it trains on.
	line := "training on CPU (TensorFlow sees no GPU)"
	if currentDeviceType(t) == devices.GPU {
		line = "training on GPU:0 ("
	}
	if !strings.Contains(log.String(), line) {
		t.Errorf("the log lacks %q:\n%s", line, log.String())
	}
	checkRunDevices(t, cfg.Out)
	st, _, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(2)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 5 || st.Epoch != 2 {
		t.Errorf("checkpoint at epoch %d step %d, want 2 and 5", st.Epoch, st.Step)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(3))); err == nil {
		t.Error("an epoch 3 checkpoint exists")
	}
	checkRunJSON(t, cfg, res)
}

// checkRunJSON compares OUT/run.json with the configuration, the manifest and the result.
func checkRunJSON(t *testing.T, cfg Config, res *Result) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.Out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rj struct {
		Config         Config       `json:"config"`
		Xray           string       `json:"xray_version"`
		TensorFlow     string       `json:"tensorflow_version"`
		Go             string       `json:"go_version"`
		Arch           string       `json:"arch"`
		ManifestSHA256 string       `json:"manifest_sha256"`
		TrainImages    int          `json:"train_images"`
		ValImages      int          `json:"val_images"`
		EpochsDone     int          `json:"epochs_done"`
		Steps          int64        `json:"steps"`
		BestEpoch      int          `json:"best_epoch"`
		BestValLoss    *float64     `json:"best_val_loss"`
		Seconds        float64      `json:"seconds"`
		Finished       bool         `json:"finished"`
		History        []EpochStats `json:"history"`
		Threads        struct {
			Cores   int `json:"cores"`
			IntraOp int `json:"intra_op_threads"`
			InterOp int `json:"inter_op_threads"`
			Loader  int `json:"loader_workers"`
		} `json:"threads"`
	}
	if err := json.Unmarshal(b, &rj); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	if !reflectEqualJSON(t, rj.Config, cfg) {
		t.Errorf("run.json config %+v, ran with %+v", rj.Config, cfg)
	}
	mb, err := os.ReadFile(cfg.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mb)
	m, err := dataset.ReadManifest(cfg.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	c := dataset.Count(m.Entries)
	checks := []struct {
		what      string
		got, want any
	}{
		{"xray_version", rj.Xray, buildinfo.Version},
		{"tensorflow_version", rj.TensorFlow, tf.Version()},
		{"go_version", rj.Go, runtime.Version()},
		{"arch", rj.Arch, cfg.Arch},
		{"threads.cores", rj.Threads.Cores, runtime.GOMAXPROCS(0)},
		{"threads.intra_op_threads", rj.Threads.IntraOp, cmp.Or(cfg.Threads, runtime.GOMAXPROCS(0))},
		{"threads.inter_op_threads", rj.Threads.InterOp, cmp.Or(cfg.Threads, runtime.GOMAXPROCS(0))},
		{"threads.loader_workers", rj.Threads.Loader, cmp.Or(cfg.Threads, runtime.GOMAXPROCS(0))},
		{"manifest_sha256", rj.ManifestSHA256, hex.EncodeToString(sum[:])},
		{"train_images", rj.TrainImages, c[dataset.Train][0] + c[dataset.Train][1]},
		{"val_images", rj.ValImages, c[dataset.Val][0] + c[dataset.Val][1]},
		{"epochs_done", rj.EpochsDone, res.Epochs},
		{"steps", rj.Steps, res.Steps},
		{"best_epoch", rj.BestEpoch, res.BestEpoch},
		{"finished", rj.Finished, !res.Interrupted},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("run.json %s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	if rj.BestValLoss == nil || *rj.BestValLoss != res.BestValLoss {
		t.Errorf("run.json best_val_loss %v, want %v", rj.BestValLoss, res.BestValLoss)
	}
	if !(rj.Seconds > 0) || rj.Seconds > res.Duration.Seconds()+1 {
		t.Errorf("run.json seconds %v, the run took %v", rj.Seconds, res.Duration)
	}
	if !slices.Equal(rj.History, res.History) {
		t.Errorf("run.json history %+v, want %+v", rj.History, res.History)
	}
}

// reflectEqualJSON compares two values through their JSON form (what run.json can hold).
func reflectEqualJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// TestFreezeBase: a head-only run keeps the backbone (kernels and BN statistics, which a
// frozen Keras base keeps in inference mode) at its loaded values bit for bit and trains
// the head. The base starts from a Keras-written weight file (random weights, real
// features); every head variable's update is compared with Keras's in
// TestStepParityWithKeras (freeze). Without base weights a head-only run is refused.
func TestFreezeBase(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Epochs, cfg.FreezeBase = 2, true
	var ce *ConfigError
	if _, err := Run(context.Background(), cfg); !errors.As(err, &ce) || ce.Field != "FreezeBase" {
		t.Fatalf("head-only run with weights none: %v, want a ConfigError on FreezeBase", err)
	}
	if _, err := os.Stat(cfg.Out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused run created %s (%v)", cfg.Out, err)
	}
	cfg.Weights = filepath.Join(pyref.KerasWeights(t, tfgraph.MobileNet, 128), "k2_base.h5")
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// The initial values: the same seeded initialisers in a fresh graph.
	m, err := tfgraph.Build(tfgraph.Config{Arch: cfg.Arch, InputSize: cfg.InputSize, Pool: cfg.Pool, Seed: cfg.Seed})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := tfgraph.Initialize(sess, m.Variables); err != nil {
		t.Fatal(err)
	}
	if _, err := weights.Load(sess, m, cfg.Weights, weights.ModeBase); err != nil {
		t.Fatal(err)
	}
	initial, err := tfgraph.Values(sess, m.Variables)
	if err != nil {
		t.Fatal(err)
	}
	_, after, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", checkpoint.Name(2)))
	if err != nil {
		t.Fatal(err)
	}
	var base, head int
	for _, v := range m.Variables {
		same := slices.Equal(flatFloats(t, initial[v.Name]), flatFloats(t, after[v.Name]))
		switch {
		case !v.Head:
			base++
			if !same {
				t.Errorf("backbone variable %s changed with --freeze-base", v.Name)
			}
		case v.Weight != "kernel" && v.Weight != "gamma":
			// Random weights leave dead ReLUs before the last BN: those kernels and the
			// gamma may get no gradient; biases, beta and BN statistics must move.
			head++
			if same {
				t.Errorf("head variable %s did not train", v.Name)
			}
		}
	}
	if base == 0 || head == 0 {
		t.Fatalf("%d base and %d head variables", base, head)
	}
}

// TestEarlyStopping: with patience 1 the run stops at the first epoch whose validation
// loss is not better, says which epoch was best, exports that one to OUT/savedmodel and
// the last to OUT/savedmodel-last.
func TestEarlyStopping(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Epochs, cfg.EarlyStopping, cfg.LearningRate = 8, 1, 0.01
	var log bytes.Buffer
	cfg.Logger = progress.Lines(&log, "")
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := res.History
	// Patience 1: every epoch up to the best improved on all before it.
	best := math.Inf(1)
	for _, e := range h[:len(h)-1] {
		if !(e.ValLoss < best) {
			t.Fatalf("epoch %d (val_loss %.5f) did not improve on %.5f, yet training went on: %+v", e.Epoch, e.ValLoss, best, h)
		}
		best = e.ValLoss
	}
	if !res.StoppedEarly {
		t.Fatalf("val_loss improved in all %d epochs: this setting no longer exercises early stopping (%+v)", len(h), h)
	}
	last := h[len(h)-1]
	if last.ValLoss < best || res.BestEpoch != len(h)-1 || res.BestValLoss != best {
		t.Errorf("stopped after epoch %d (val_loss %.5f); best epoch %d (%.5f), want %d (%.5f)", last.Epoch, last.ValLoss, res.BestEpoch, res.BestValLoss, len(h)-1, best)
	}
	if !strings.Contains(log.String(), "early stopping") || !strings.Contains(log.String(), "best epoch "+strconv.Itoa(res.BestEpoch)) {
		t.Errorf("the log does not say it stopped early and which epoch was best:\n%s", log.String())
	}
	bst, _, err := checkpoint.Read(filepath.Join(cfg.Out, "checkpoints", "best.ckpt"))
	if err != nil || bst.Epoch != res.BestEpoch {
		t.Errorf("best.ckpt holds epoch %d (%v), want %d", bst.Epoch, err, res.BestEpoch)
	}
	for _, d := range []string{res.SavedModel, res.LastModel} {
		if _, err := os.Stat(filepath.Join(d, "saved_model.pb")); err != nil {
			t.Errorf("SavedModel %q: %v", d, err)
		}
	}
	checkRunJSON(t, cfg, res)
}

// TestDivergedRunRefusesExport: with learning rate 1e6 the loss is NaN; the run keeps
// its history and checkpoints (resumable) but exports nothing and fails with
// ErrNoBestEpoch naming the divergence, and so does resuming it.
func TestDivergedRunRefusesExport(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Epochs, cfg.LearningRate = 1, 1e6
	var log bytes.Buffer
	cfg.Logger = progress.Lines(&log, "")
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrNoBestEpoch) || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("diverged run: %v, want ErrNoBestEpoch saying it diverged", err)
	}
	rows := readHistory(t, filepath.Join(cfg.Out, "history.csv"))
	if len(rows) != 1 || !math.IsNaN(rows[0][1]) {
		t.Fatalf("history.csv %v, want one epoch with a NaN loss (pick a larger rate if it is finite)", rows)
	}
	for _, p := range []string{"savedmodel", "savedmodel-last", filepath.Join("checkpoints", checkpoint.Best)} {
		if _, err := os.Stat(filepath.Join(cfg.Out, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a diverged run (%v)", p, err)
		}
	}
	if strings.Contains(log.String(), "best epoch") {
		t.Errorf("the log names a best epoch:\n%s", log.String())
	}
	var rj struct {
		Finished bool `json:"finished"`
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Out, "run.json")); err != nil || json.Unmarshal(b, &rj) != nil || rj.Finished {
		t.Errorf("run.json: finished=%v (%v), want an unfinished run", rj.Finished, err)
	}
	cfg.Epochs, cfg.Resume = 2, true
	if _, err = Run(context.Background(), cfg); !errors.Is(err, ErrNoBestEpoch) {
		t.Fatalf("resuming a diverged run: %v, want ErrNoBestEpoch", err)
	}
	if rows := readHistory(t, filepath.Join(cfg.Out, "history.csv")); len(rows) != 2 {
		t.Errorf("history after resuming: %d epochs, want 2", len(rows))
	}
}

// TestResumeGuards: a run directory is not overwritten without --resume, and --resume
// refuses a different architecture or manifest, naming the checkpoint.
func TestResumeGuards(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Epochs, cfg.MaxSteps = 1, 1
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrRunExists) || !strings.Contains(err.Error(), cfg.Out) {
		t.Errorf("second run into the same run directory: %v, want ErrRunExists naming it", err)
	}
	other := cfg
	other.Resume, other.Arch = true, tfgraph.Xception
	if _, err := Run(context.Background(), other); err == nil || !strings.Contains(err.Error(), checkpoint.Name(1)) || !strings.Contains(err.Error(), "mobilenet") {
		t.Errorf("--resume with another architecture: %v, want a refusal naming the checkpoint and its architecture", err)
	}
}
