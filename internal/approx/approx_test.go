package approx

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing, so the tests can
// check that the helpers fail where a parity test must.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

var (
	nan  = math.NaN()
	pinf = math.Inf(1)
	ninf = math.Inf(-1)
)

// TestRefusesWhatCannotBeCompared: NaN and ±Inf on either side, in float32 and float64,
// length mismatches (also of table rows) and empty input are errors, never a zero
// difference, under every metric.
func TestRefusesWhatCannotBeCompared(t *testing.T) {
	ok := []float64{0.25, 1, -3}
	for _, m := range []Metric{Abs, AbsRel, Rel, L2} {
		for _, bad := range []float64{nan, pinf, ninf} {
			for i := range ok {
				g := append([]float64(nil), ok...)
				g[i] = bad
				if _, err := Compare(g, ok, m); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), fmt.Sprintf("got[%d]", i)) {
					t.Errorf("%v: got[%d]=%g: err %v, want ErrNonFinite naming got[%d]", m, i, bad, err, i)
				}
				if _, err := Compare(ok, g, m); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), fmt.Sprintf("want[%d]", i)) {
					t.Errorf("%v: want[%d]=%g: err %v, want ErrNonFinite naming want[%d]", m, i, bad, err, i)
				}
			}
			g32 := []float32{1, float32(bad)}
			if _, err := Compare(g32, []float64{1, 1}, m); !errors.Is(err, ErrNonFinite) {
				t.Errorf("%v: float32 %g: err %v, want ErrNonFinite", m, bad, err)
			}
			// All-NaN on both sides: the case a max-fold reports as 0.
			if _, err := Compare([]float32{float32(bad), float32(bad)}, []float32{float32(bad), float32(bad)}, m); !errors.Is(err, ErrNonFinite) {
				t.Errorf("%v: both all %g: err %v, want ErrNonFinite", m, bad, err)
			}
		}
		if _, err := Compare(ok, ok[:2], m); !errors.Is(err, ErrShape) {
			t.Errorf("%v: 3 vs 2 values: err %v, want ErrShape", m, err)
		}
		if _, err := Compare(ok[:0], ok[:0], m); !errors.Is(err, ErrEmpty) {
			t.Errorf("%v: empty: err %v, want ErrEmpty", m, err)
		}
		if _, err := Compare([]float64(nil), []float32(nil), m); !errors.Is(err, ErrEmpty) {
			t.Errorf("%v: nil: err %v, want ErrEmpty", m, err)
		}
		if _, err := CompareRows([][]float64{{1, 2}, {3}}, [][]float64{{1, 2}, {3, 4}}, m); !errors.Is(err, ErrShape) {
			t.Errorf("%v: ragged rows: err %v, want ErrShape", m, err)
		}
		if _, err := CompareRows([][]float64{{1, 2}}, [][]float64{{1, 2}, {3, 4}}, m); !errors.Is(err, ErrShape) {
			t.Errorf("%v: 1 vs 2 rows: err %v, want ErrShape", m, err)
		}
		if _, err := CompareRows([][]float64{{1, nan}}, [][]float64{{1, 2}}, m); !errors.Is(err, ErrNonFinite) {
			t.Errorf("%v: NaN in a row: err %v, want ErrNonFinite", m, err)
		}
		if _, err := CompareRows([][]float64{}, [][]float64{}, m); !errors.Is(err, ErrEmpty) {
			t.Errorf("%v: no rows: err %v, want ErrEmpty", m, err)
		}
	}
}

// TestTestHelpersFail: what a parity test calls fails the test on NaN, Inf, mismatched
// and empty input, whatever the tolerance, and returns +Inf so a caller's own threshold
// fails too. This is the failure TestKerasParity, TestStepParityWithKeras, TestImport and
// the savedmodels round trips now report on a graph that outputs NaN.
func TestTestHelpersFail(t *testing.T) {
	want := []float32{0.1, 0.9, 0.5}
	cases := map[string][]float32{
		"NaN":   {0.1, float32(nan), 0.5},
		"+Inf":  {float32(pinf), 0.9, 0.5},
		"-Inf":  {0.1, 0.9, float32(ninf)},
		"short": {0.1, 0.9},
		"empty": {},
	}
	for name, got := range cases {
		r := &recorder{TB: t}
		if d := Within(r, "probs", got, want, Abs, math.MaxFloat64); len(r.errs) != 1 || !strings.HasPrefix(r.errs[0], "probs: cannot compare") || !math.IsInf(d.Max, 1) {
			t.Errorf("Within on %s: failures %q, Max %g; want one 'probs: cannot compare' and +Inf", name, r.errs, d.Max)
		}
		r = &recorder{TB: t}
		if d := Max(r, "probs", got, want, AbsRel); len(r.errs) != 1 || !(d.Max > 1e300) {
			t.Errorf("Max on %s: failures %q, Max %g; want one failure and +Inf", name, r.errs, d.Max)
		}
		r = &recorder{TB: t}
		if d := WithinRows(r, "table", [][]float32{got}, [][]float32{want}, Abs, 1); len(r.errs) != 1 || !math.IsInf(d.Max, 1) {
			t.Errorf("WithinRows on %s: failures %q, Max %g", name, r.errs, d.Max)
		}
	}
	r := &recorder{TB: t}
	Within(r, "probs", []float32{0.1, 0.8, 0.5}, want, Abs, 1e-3)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "at [1]") {
		t.Errorf("off by 0.1 at [1] with tol 1e-3: failures %q, want one naming [1]", r.errs)
	}
	r = &recorder{TB: t}
	Within(r, "probs", want, want, Abs, 0)
	if len(r.errs) != 0 {
		t.Errorf("identical slices, tol 0: failures %q", r.errs)
	}
}

// TestMetrics checks each metric against hand-computed values.
func TestMetrics(t *testing.T) {
	got := []float64{1.5, -0.2, 10.5, 0}
	want := []float64{1.0, 0.1, 10.0, 0}
	cases := []struct {
		m         Metric
		max, mean float64
		index     int
	}{
		// |d| = 0.5, 0.3, 0.5, 0: the first 0.5 wins ties.
		{Abs, 0.5, 1.3 / 4, 0},
		// / max(1, |want|): 0.5, 0.3, 0.05, 0.
		{AbsRel, 0.5, 0.85 / 4, 0},
		// / |want|: 0.5, 3, 0.05, 0 (0/0 counts as equal).
		{Rel, 3, 3.55 / 4, 1},
		// sqrt(0.25+0.09+0.25) / sqrt(1+0.01+100); worst element by |d|.
		{L2, math.Sqrt(0.59 / 101.01), 1.3 / 4, 0},
	}
	for _, c := range cases {
		d, err := Compare(got, want, c.m)
		if err != nil {
			t.Fatalf("%v: %v", c.m, err)
		}
		if math.Abs(d.Max-c.max) > 1e-12 || math.Abs(d.Mean-c.mean) > 1e-12 || d.Index != c.index || d.Len != 4 ||
			d.Got != got[c.index] || d.Want != want[c.index] {
			t.Errorf("%v: %+v, want max %g mean %g at [%d]", c.m, d, c.max, c.mean, c.index)
		}
	}
	if d, _ := Compare([]float64{1e-9}, []float64{0}, Rel); !math.IsInf(d.Max, 1) {
		t.Errorf("Rel against an exact 0: %g, want +Inf", d.Max)
	}
	if d, _ := Compare([]float64{1e-9, 0}, []float64{0, 0}, L2); !math.IsInf(d.Max, 1) {
		t.Errorf("L2 against a zero vector: %g, want +Inf", d.Max)
	}
	if d, _ := Compare([]float32{0, 0}, []float64{0, 0}, L2); d.Max != 0 {
		t.Errorf("L2 of equal zero vectors: %g, want 0", d.Max)
	}
	// Rows are flattened in order: the worst element of row 1 is index 3.
	if d, _ := CompareRows([][]float32{{0, 1}, {0, 2}}, [][]float64{{0, 1}, {0, 1}}, Abs); d.Index != 3 || d.Max != 1 {
		t.Errorf("rows: %+v, want max 1 at [3]", d)
	}
}
