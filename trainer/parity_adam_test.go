package trainer

import (
	"math"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
)

// adamMasks, for the Adam modes, marks per trainable variable the elements whose first
// moment m (a running mean of the gradient) agrees with Keras's within 1 % after this
// step and after every earlier step checked (r.masks); the others are left out of the
// comparison. Adam's update m·alpha / (sqrt(v) + eps) has the size
// of the learning rate whatever the gradient's: where a gradient vanishes analytically
// (the biases and betas just before a BatchNormalization, which removes any shift) its
// float32 rounding noise decides the sign of a full-size step, in Keras as in Go, and in
// Keras itself between two runs of different summation order. The SGD cases pin the
// gradients; these check the Adam/AdamW update on every element whose gradient is
// signal, which must be at least 99 % of them. nil for the other modes.
func (r *kerasStepsRef) adamMasks(t *testing.T, c parityCheck, prefix string, got map[string]*tf.Tensor) map[string][]bool {
	t.Helper()
	if c.mode != "adam" && c.mode != "adamw" {
		return nil
	}
	masks := map[string][]bool{}
	var total, dropped int
	for _, n := range r.names {
		gm, ok := got["adam/m/"+n]
		if !ok || r.npz.Header(prefix+"slot_m/"+n+".npy") == nil {
			continue
		}
		g, k := flatFloats(t, gm), r.array(t, prefix+"slot_m/"+n)
		if len(g) != len(k) {
			continue // compareVariables reports it
		}
		m := make([]bool, len(g))
		prev := r.masks[c.mode][n]
		for i := range g {
			m[i] = math.Abs(float64(g[i])-float64(k[i])) <= 0.01*math.Abs(float64(k[i])) && (prev == nil || prev[i])
			if !m[i] {
				dropped++
			}
		}
		total += len(g)
		masks[n] = m
	}
	if total == 0 || float64(dropped) > 0.01*float64(total) {
		t.Errorf("%s step %d: %d of %d gradient elements disagree with Keras by more than 1 %% (allowed: 1 %%)", c.mode, c.step, dropped, total)
	}
	t.Logf("%s step %d: %d of %d elements with rounding-noise gradients (now or before) left out", c.mode, c.step, dropped, total)
	if r.masks == nil {
		r.masks = map[string]map[string][]bool{}
	}
	r.masks[c.mode] = masks
	return masks
}

// baseName is the variable a checkpoint name belongs to (a slot's variable, or itself).
func baseName(name string) string {
	for p := range slotPrefixes {
		if n, ok := strings.CutPrefix(name, p); ok {
			return n
		}
	}
	return name
}

// keep returns the elements of x where mask is true.
func keep(x []float32, mask []bool) []float32 {
	var out []float32
	for i, ok := range mask {
		if ok {
			out = append(out, x[i])
		}
	}
	return out
}
