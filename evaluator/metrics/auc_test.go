package metrics

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/xraylab/xray/internal/approx"
)

// TestROCAUC checks hand-computed areas: sklearn's documented example (0.75: of the four
// positive-negative pairs, three rank the positive higher), a tie counting one half, and
// the errors.
func TestROCAUC(t *testing.T) {
	for _, c := range []struct {
		labels []int
		scores []float64
		want   float64
	}{
		{[]int{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}, 0.75},
		{[]int{0, 1, 0, 1}, []float64{0.5, 0.5, 0.2, 0.9}, (1 + 0.5 + 1 + 1) / 4},
		{[]int{1, 0}, []float64{0.2, 0.7}, 0},
	} {
		got, err := ROCAUC(c.labels, c.scores)
		if err != nil {
			t.Errorf("ROCAUC(%v, %v): %v", c.labels, c.scores, err)
		}
		approx.Within(t, fmt.Sprintf("ROCAUC(%v, %v)", c.labels, c.scores), []float64{got}, []float64{c.want}, approx.Abs, 1e-12)
	}
	if _, err := ROCAUC([]int{1, 1}, []float64{0.2, 0.3}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: %v, want ErrOneClass", err)
	}
	for _, bad := range [][2]any{{[]int{}, []float64{}}, {[]int{0, 1}, []float64{0.1}}, {[]int{0, 2}, []float64{0.1, 0.2}}, {[]int{0, 1}, []float64{0.1, math.NaN()}}} {
		if _, err := ROCAUC(bad[0].([]int), bad[1].([]float64)); err == nil {
			t.Errorf("ROCAUC(%v, %v): no error", bad[0], bad[1])
		}
	}
}
