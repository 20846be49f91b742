// Package approx is the one way the tests compare floating-point results with a
// reference: two slices (or tables) are comparable only when both are non-empty, equally
// shaped and finite everywhere, and the comparison names the worst element. A NaN, an Inf,
// a length mismatch or an empty result is an error, never a difference of zero, so a
// broken graph cannot pass a parity test. Production code never imports it.
//
// Usage, in a test:
//
//	d := approx.Within(t, "logits", got, want, approx.Abs, 1e-4) // fails t when off
//	t.Logf("logits: %v", d)                                       // worst index and values
//
// or, to decide yourself: d, err := approx.Compare(got, want, approx.AbsRel).
package approx

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// Float is the element type of a compared slice.
type Float interface{ ~float32 | ~float64 }

// Metric is how one element's difference is measured.
type Metric int

const (
	// Abs is |got - want|.
	Abs Metric = iota
	// AbsRel is |got - want| / max(1, |want|): absolute for values up to 1, relative above.
	AbsRel
	// Rel is |got - want| / |want|; a zero want matches only a zero got.
	Rel
	// L2 compares whole vectors: ||got - want|| / ||want|| (Euclidean norms). The worst
	// index is the element with the largest |got - want|.
	L2
)

func (m Metric) String() string {
	switch m {
	case Abs:
		return "abs"
	case AbsRel:
		return "abs/rel"
	case Rel:
		return "rel"
	case L2:
		return "L2-rel"
	}
	return fmt.Sprintf("Metric(%d)", int(m))
}

// The reasons two slices cannot be compared (test them with errors.Is).
var (
	ErrEmpty     = errors.New("nothing to compare")
	ErrShape     = errors.New("shapes differ")
	ErrNonFinite = errors.New("not finite")
)

// Diff summarises a comparison.
type Diff struct {
	Metric    Metric
	Len       int     // elements compared
	Max       float64 // the worst difference under Metric (for L2, the vectors' ratio)
	Mean      float64 // mean of the per-element differences (|got - want| for L2)
	Index     int     // the worst element
	Got, Want float64 // the worst element's values
}

func (d Diff) String() string {
	return fmt.Sprintf("max %s diff %.3g at [%d] (got %.9g, want %.9g; mean %.3g over %d)",
		d.Metric, d.Max, d.Index, d.Got, d.Want, d.Mean, d.Len)
}

// Compare measures got against want under m. It fails on empty input, on different
// lengths, and on a NaN or ±Inf on either side.
func Compare[G, W Float](got []G, want []W, m Metric) (Diff, error) {
	d := Diff{Metric: m, Len: len(got)}
	if len(got) != len(want) {
		return d, fmt.Errorf("%w: %d values, want %d", ErrShape, len(got), len(want))
	}
	if len(got) == 0 {
		return d, ErrEmpty
	}
	var sum, dd, ww float64
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if err := finite(g, w, i); err != nil {
			return d, err
		}
		a := math.Abs(g - w)
		e := a
		switch m {
		case AbsRel:
			e = a / math.Max(1, math.Abs(w))
		case Rel:
			if a != 0 {
				e = a / math.Abs(w) // +Inf when want is 0
			}
		case L2:
			dd, ww = dd+a*a, ww+w*w
		}
		sum += e
		if e > d.Max || i == 0 {
			d.Max, d.Index, d.Got, d.Want = e, i, g, w
		}
	}
	d.Mean = sum / float64(len(got))
	if m == L2 {
		d.Max = 0
		if dd != 0 {
			d.Max = math.Sqrt(dd / ww) // +Inf when want is all zeros
		}
	}
	return d, nil
}

func finite(g, w float64, i int) error {
	switch {
	case math.IsNaN(g) || math.IsInf(g, 0):
		return fmt.Errorf("%w: got[%d] = %g", ErrNonFinite, i, g)
	case math.IsNaN(w) || math.IsInf(w, 0):
		return fmt.Errorf("%w: want[%d] = %g", ErrNonFinite, i, w)
	}
	return nil
}

// CompareRows is Compare over two tables (e.g. [N][2] probabilities): the same number of
// rows, each of the same length; Index counts elements row by row.
func CompareRows[G, W Float](got [][]G, want [][]W, m Metric) (Diff, error) {
	if len(got) != len(want) {
		return Diff{Metric: m}, fmt.Errorf("%w: %d rows, want %d", ErrShape, len(got), len(want))
	}
	var g []G
	var w []W
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return Diff{Metric: m}, fmt.Errorf("%w: row %d has %d values, want %d", ErrShape, i, len(got[i]), len(want[i]))
		}
		g, w = append(g, got[i]...), append(w, want[i]...)
	}
	return Compare(g, w, m)
}

// Max is Compare for a test: when the slices cannot be compared it reports the reason as
// a failure of t (naming what) and returns a Diff whose Max is +Inf, so any tolerance
// check on it fails too.
func Max[G, W Float](t testing.TB, what string, got []G, want []W, m Metric) Diff {
	t.Helper()
	d, err := Compare(got, want, m)
	d, _ = checked(t, what, d, err)
	return d
}

// MaxRows is Max over two tables.
func MaxRows[G, W Float](t testing.TB, what string, got [][]G, want [][]W, m Metric) Diff {
	t.Helper()
	d, err := CompareRows(got, want, m)
	d, _ = checked(t, what, d, err)
	return d
}

func checked(t testing.TB, what string, d Diff, err error) (Diff, bool) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: cannot compare: %v", what, err)
		d.Max, d.Mean = math.Inf(1), math.Inf(1)
	}
	return d, err == nil
}

func within(t testing.TB, what string, d Diff, err error, tol float64) Diff {
	t.Helper()
	d, ok := checked(t, what, d, err)
	if ok && d.Max > tol {
		t.Errorf("%s: %v > %g", what, d, tol)
	}
	return d
}

// Within fails t when got differs from want by more than tol under m (or cannot be
// compared), naming what and the worst element. It returns the Diff for logging.
func Within[G, W Float](t testing.TB, what string, got []G, want []W, m Metric, tol float64) Diff {
	t.Helper()
	d, err := Compare(got, want, m)
	return within(t, what, d, err, tol)
}

// WithinRows is Within over two tables.
func WithinRows[G, W Float](t testing.TB, what string, got [][]G, want [][]W, m Metric, tol float64) Diff {
	t.Helper()
	d, err := CompareRows(got, want, m)
	return within(t, what, d, err, tol)
}
