package schedule

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
)

// TestSchedulesMatchKeras compares the per-update rates of the cosine schedule (with and
// without warmup) with Keras's CosineDecay, and the plateau rate after each epoch with
// Keras's ReduceLROnPlateau fed the same val_loss sequence (float32 schedules: rel 1e-6).
func TestSchedulesMatchKeras(t *testing.T) {
	pyref.Require(t)
	const lr, total = 0.01, 40
	// Improvements, a stall shorter than patience, stalls that cut the rate, a gain below
	// min_delta (not an improvement), a NaN, and enough stalls to reach min_lr.
	losses := []float64{1, 0.9, 0.95, 0.92, 0.91, 0.8, 0.79995, 0.81, 0.82, math.NaN(), 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5}
	const factor, patience, minLR = 0.5, 2, 0.001
	var ls []string
	for _, v := range losses {
		ls = append(ls, strconv.FormatFloat(v, 'g', -1, 64))
	}
	for _, warmup := range []int64{0, 5} {
		out := pyref.Run(t, pyref.Script("trainer_schedules.py"), "--lr", "0.01", "--warmup", strconv.FormatInt(warmup, 10),
			"--total", strconv.Itoa(total), "--val-losses", strings.Join(ls, ","), "--factor", "0.5", "--patience", "2", "--min-lr", "0.001")
		var ref struct {
			Cosine    []float64 `json:"cosine"`
			PlateauLR []float64 `json:"plateau_lr"`
		}
		if err := json.Unmarshal(out, &ref); err != nil {
			t.Fatal(err)
		}
		if len(ref.Cosine) != total+3 || len(ref.PlateauLR) != len(losses) {
			t.Fatalf("reference has %d cosine and %d plateau values", len(ref.Cosine), len(ref.PlateauLR))
		}
		s := Schedule{Kind: Cosine, Base: lr, Warmup: warmup, Total: total}
		got := make([]float64, len(ref.Cosine))
		for step := range got {
			got[step] = s.At(int64(step), 0)
		}
		approx.Within(t, fmt.Sprintf("warmup %d: cosine rate at each step against Keras", warmup), got, ref.Cosine, approx.Abs, 1e-6*lr)
		if warmup != 0 {
			continue
		}
		p := Plateau{LR: lr, Best: math.MaxFloat64}
		for i, v := range losses {
			p.Observe(v, factor, minLR, patience)
			approx.Within(t, fmt.Sprintf("plateau rate after epoch %d (val_loss %g) against Keras", i+1, v),
				[]float64{p.LR}, ref.PlateauLR[i:i+1], approx.Abs, 1e-6*lr)
		}
		if p.LR != minLR {
			t.Errorf("the sequence should drive the rate to min_lr %g, got %g: the test lost its point", minLR, p.LR)
		}
	}
}

// TestConstantAndWarmupSchedule checks hand-computed rates: constant is --lr at every
// update; warmup rises linearly from 0 to it.
func TestConstantAndWarmupSchedule(t *testing.T) {
	s := Schedule{Kind: Constant, Base: 0.002, Warmup: 4, Total: 100}
	for step, want := range map[int64]float64{0: 0, 1: 0.0005, 3: 0.0015, 4: 0.002, 99: 0.002, 500: 0.002} {
		approx.Within(t, fmt.Sprintf("constant rate with warmup at step %d", step), []float64{s.At(step, 0)}, []float64{want}, approx.Abs, 1e-15)
	}
	p := Schedule{Kind: OnPlateau, Base: 0.002, Warmup: 2, Total: 100}
	if got := p.At(1, 0.0001); got != 0.001 {
		t.Errorf("plateau during warmup: %g, want 0.001", got)
	}
	if got := p.At(2, 0.0001); got != 0.0001 {
		t.Errorf("plateau after warmup: %g, want its own rate 0.0001", got)
	}
}
