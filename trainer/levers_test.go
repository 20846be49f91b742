package trainer

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/trainer/checkpoint"
)

// TestLeversResumeExactly trains the tiny job with every stateful lever on (Adam, class
// weights, label smoothing, warmup then the plateau schedule, best by val_auc,
// TensorBoard) for 3 epochs straight, and again stopped after epoch 1 (the step limit)
// and resumed: the resumed run must end on the same weights, Adam moments and plateau
// state, with the same history. The cosine schedule is a function of the update count,
// which the checkpoint carries, so the plateau is the schedule with state to lose.
// The resumed run's TensorBoard files, read back by the Python tensorboard package,
// hold every update's scalars once, at steps 1..9, and each epoch's at its epoch.
func TestLeversResumeExactly(t *testing.T) {
	pyref.Require(t)
	base := tinyConfig(t)
	base.Epochs, base.Threads = 3, 1
	base.Optimizer, base.LearningRate = OptimizerAdam, 0.001
	base.LRSchedule, base.WarmupEpochs, base.PlateauPatience, base.PlateauFactor = SchedulePlateau, 1, 1, 0.5
	base.ClassWeight, base.LabelSmoothing, base.Monitor = ClassWeightBalanced, 0.1, MonitorValAUC

	straight := base
	straight.Out = filepath.Join(t.TempDir(), "straight")
	if _, err := Run(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	resumed := base
	resumed.Out = filepath.Join(t.TempDir(), "resumed")
	resumed.TensorBoard = filepath.Join(resumed.Out, "tb")
	first := resumed
	first.MaxSteps = 3
	if res, err := Run(context.Background(), first); err != nil || res.Epochs != 1 {
		t.Fatalf("first part: %v (epochs %v)", err, res)
	}
	resumed.Resume = true
	res, err := Run(context.Background(), resumed)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 3 || res.Steps != 9 {
		t.Fatalf("resumed run ended at epoch %d step %d, want 3 and 9", res.Epochs, res.Steps)
	}

	wantSt, want, err := checkpoint.Read(filepath.Join(straight.Out, "checkpoints", checkpoint.Name(3)))
	if err != nil {
		t.Fatal(err)
	}
	gotSt, got, err := checkpoint.Read(filepath.Join(resumed.Out, "checkpoints", checkpoint.Name(3)))
	if err != nil {
		t.Fatal(err)
	}
	slots := 0
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("resumed checkpoint lacks %s", name)
			continue
		}
		if slotName(name) {
			slots++
		}
		wv, gv := flatFloats(t, w), flatFloats(t, g)
		for i := range wv {
			if gv[i] != wv[i] || math.IsNaN(float64(gv[i])) {
				t.Errorf("%s[%d]: resumed %v, straight %v", name, i, gv[i], wv[i])
				break
			}
		}
	}
	if slots == 0 || len(got) != len(want) {
		t.Errorf("checkpoints hold %d and %d tensors, %d Adam slots", len(got), len(want), slots)
	}
	if gotSt.Plateau == nil || *gotSt.Plateau != *wantSt.Plateau || gotSt.BestEpoch != wantSt.BestEpoch {
		t.Errorf("resumed plateau %+v best epoch %d, straight %+v %d", gotSt.Plateau, gotSt.BestEpoch, wantSt.Plateau, wantSt.BestEpoch)
	}
	if wantSt.History[0].LR != 0.001*2/3 || wantSt.History[1].LR != 0.001 {
		t.Errorf("rates of epochs 1 and 2: %g, %g; want the warmup's last (2/3 of 0.001) and 0.001", wantSt.History[0].LR, wantSt.History[1].LR)
	}
	for i, w := range wantSt.History {
		g := gotSt.History[i]
		g.Seconds, w.Seconds = 0, 0
		if g != w && !(math.IsNaN(g.ValAUC) && math.IsNaN(w.ValAUC)) {
			t.Errorf("epoch %d: resumed %+v, straight %+v", i+1, g, w)
		}
	}
	checkTensorBoard(t, resumed.TensorBoard, gotSt.History, 9)
}

// checkTensorBoard reads dir back with the Python tensorboard package and checks every
// scalar's steps, and the epoch scalars' values against the history.
func checkTensorBoard(t *testing.T, dir string, h []EpochStats, steps int) {
	t.Helper()
	var runs map[string]json.RawMessage
	if err := json.Unmarshal(pyref.Run(t, pyref.Script("tensorboard_read.py"), dir), &runs); err != nil {
		t.Fatal(err)
	}
	read := func(run string) map[string][][2]float64 {
		var m map[string][][2]float64
		if err := json.Unmarshal(runs[run], &m); err != nil {
			t.Fatalf("tensorboard run %s: %v", run, err)
		}
		return m
	}
	train, val := read("train"), read("validation")
	for _, tag := range []string{"batch_loss", "batch_accuracy", "batch_learning_rate"} {
		pts := train[tag]
		if len(pts) != steps {
			t.Errorf("train/%s: %d points, want %d", tag, len(pts), steps)
			continue
		}
		for i, p := range pts {
			if p[0] != float64(i+1) || math.IsNaN(p[1]) {
				t.Errorf("train/%s point %d: step %v value %v", tag, i, p[0], p[1])
			}
		}
	}
	if lr := train["batch_learning_rate"]; len(lr) > 0 && lr[0][1] != 0 {
		t.Errorf("first update's rate %v, want 0 (warmup starts at 0)", lr[0][1])
	}
	f32 := func(x float64) float64 { return float64(float32(x)) }
	for _, c := range []struct {
		run map[string][][2]float64
		tag string
		get func(EpochStats) float64
	}{
		{train, "epoch_loss", func(e EpochStats) float64 { return e.Loss }},
		{train, "epoch_accuracy", func(e EpochStats) float64 { return e.Accuracy }},
		{train, "epoch_learning_rate", func(e EpochStats) float64 { return e.LR }},
		{val, "epoch_loss", func(e EpochStats) float64 { return e.ValLoss }},
		{val, "epoch_accuracy", func(e EpochStats) float64 { return e.ValAccuracy }},
		{val, "epoch_auc", func(e EpochStats) float64 { return e.ValAUC }},
	} {
		pts := c.run[c.tag]
		if len(pts) != len(h) {
			t.Errorf("%s: %d points, want %d epochs", c.tag, len(pts), len(h))
			continue
		}
		for i, p := range pts {
			want := f32(c.get(h[i]))
			if p[0] != float64(i+1) || !(p[1] == want || math.IsNaN(want) && math.IsNaN(p[1])) {
				t.Errorf("%s point %d: step %v value %v, want step %d value %v", c.tag, i, p[0], p[1], i+1, want)
			}
		}
	}
}
