package step

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Class weightings (Options.ClassWeights through ClassWeights), besides an explicit "W0,W1".
const (
	ClassWeightNone     = "none"     // every image counts 1 (the paper)
	ClassWeightBalanced = "balanced" // n / (K n_c) for class c of K: sklearn's and Keras users' "balanced"
)

// ClassWeights resolves a class weighting (ClassWeightNone, ClassWeightBalanced or
// "W0,W1,...") against the training split's images per class id (nil: not known yet,
// any number of weights is accepted) into Options.ClassWeights; nil means unweighted.
// Balanced is Keras's and sklearn's n / (classes · n_k). The error is the reason alone.
func ClassWeights(spec string, counts []int) ([]float64, error) {
	switch spec {
	case "", ClassWeightNone:
		return nil, nil
	case ClassWeightBalanced:
		n := 0
		for _, nc := range counts {
			n += nc
		}
		w := make([]float64, len(counts))
		for c, nc := range counts {
			if nc == 0 {
				return nil, fmt.Errorf("the training split has no images of class %d to balance", c)
			}
			w[c] = float64(n) / (float64(len(counts)) * float64(nc))
		}
		return w, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) < 2 || counts != nil && len(parts) != len(counts) {
		return nil, errors.New("want none, balanced or one weight per class, W0,W1,... in class order (normal, pneumonia)")
	}
	w := make([]float64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%q is not a positive number", p)
		}
		w[i] = v
	}
	return w, nil
}
