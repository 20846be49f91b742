package step

import (
	"slices"
	"testing"
)

func TestSharesSplitLikeTFDistribute(t *testing.T) {
	// tf.data's rebatching for 2 replicas: a batch of 5 as 3 + 2, of 1 as 1 + 0
	// (hand-computed from tf.distribute's documented split: the first n mod k get one more).
	for _, c := range []struct {
		n, k int
		want []int
	}{{4, 2, []int{2, 2}}, {5, 2, []int{3, 2}}, {1, 2, []int{1, 0}}, {7, 3, []int{3, 2, 2}}} {
		if got := Shares(c.n, c.k); !slices.Equal(got, c.want) {
			t.Errorf("Shares(%d, %d) = %v, want %v", c.n, c.k, got, c.want)
		}
	}
}
