// Package decision turns a model's p(pneumonia) into a class: the paper's argmax, or an
// operating threshold chosen on validation scores by a Rule. A Threshold is what a
// SavedModel stores; its zero value decides by argmax, so models without one keep the
// paper's rule. Classes are 0 (normal) and 1 (pneumonia).
//
//	rule, err := decision.ParseRule("sensitivity:0.95")
//	t, err := rule.Choose(valLabels, valScores) // after training, on the validation split
//	class := t.Class(probs)                     // pneumonia when probs[1] >= t.Value
package decision

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Rule says how Choose picks the threshold.
type Rule string

const (
	// Argmax is the paper's decision: the larger probability, ties to normal (0.5 for two
	// classes).
	Argmax Rule = "argmax"
	// Youden maximises sensitivity + specificity - 1 (Youden's J) over the thresholds of
	// the ROC curve; among equal J the highest threshold wins.
	Youden Rule = "youden"
	// sensitivityPrefix starts "sensitivity:X": the highest threshold whose sensitivity
	// is at least X.
	sensitivityPrefix = "sensitivity:"
)

// DefaultRule is what training chooses when told nothing.
const DefaultRule = Youden

// ErrNoSeparation is returned by Choose with Youden when no threshold beats chance on the
// validation scores (J <= 0): there is no operating point worth storing.
var ErrNoSeparation = errors.New("the validation scores do not separate the classes (Youden's J <= 0)")

// ErrNotBinary is wrapped when a decision threshold is asked of a model or data with
// other than two classes: a threshold on p(pneumonia) needs exactly normal and pneumonia.
var ErrNotBinary = errors.New("a decision threshold applies to two-class models only (use argmax)")

// ErrOneClass is returned by Choose when the validation labels hold only one class.
var ErrOneClass = errors.New("choosing a threshold needs validation images of both classes")

// ParseRule reads "argmax", "youden" or "sensitivity:X" with 0 < X <= 1.
func ParseRule(s string) (Rule, error) {
	r := Rule(strings.ToLower(strings.TrimSpace(s)))
	if _, err := r.minSensitivity(); err != nil {
		return "", err
	}
	return r, nil
}

// Sensitivity is the rule "the highest threshold with sensitivity >= x".
func Sensitivity(x float64) Rule {
	return Rule(sensitivityPrefix + strconv.FormatFloat(x, 'g', -1, 64))
}

// minSensitivity is X of a sensitivity rule, 0 for the others, or why r is not a rule.
func (r Rule) minSensitivity() (float64, error) {
	switch r {
	case Argmax, Youden:
		return 0, nil
	}
	v, ok := strings.CutPrefix(string(r), sensitivityPrefix)
	if !ok {
		return 0, fmt.Errorf("unknown threshold rule %q: use youden, sensitivity:0.95 or argmax", string(r))
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || !(x > 0 && x <= 1) {
		return 0, fmt.Errorf("threshold rule %q: the sensitivity must be a number in (0, 1], e.g. sensitivity:0.95", string(r))
	}
	return x, nil
}

// Threshold is an operating point: pneumonia when p(pneumonia) >= Value. The zero value
// (and Rule Argmax) decides by argmax instead.
type Threshold struct {
	Rule  Rule    `json:"rule"`
	Value float64 `json:"value"`
}

// IsArgmax reports whether t is the paper's argmax decision.
func (t Threshold) IsArgmax() bool { return t.Rule == "" || t.Rule == Argmax }

// Class decides one image from its class probabilities (p_normal, p_pneumonia).
func (t Threshold) Class(probs [2]float64) int {
	if t.IsArgmax() {
		if probs[1] > probs[0] {
			return 1
		}
		return 0
	}
	if probs[1] >= t.Value {
		return 1
	}
	return 0
}

// String is "argmax" or "youden at 0.4125" (the rule and the value).
func (t Threshold) String() string {
	if t.IsArgmax() {
		return string(Argmax)
	}
	return fmt.Sprintf("%s at %.4g", t.Rule, t.Value)
}

// Choose picks the threshold on validation labels (0, 1) and scores (p(pneumonia)). The
// candidates are the distinct scores, each deciding pneumonia at score >= it, as
// sklearn's roc_curve; Argmax needs no data and returns 0.5.
func (r Rule) Choose(labels []int, scores []float64) (Threshold, error) {
	minSens, err := r.minSensitivity()
	if err != nil {
		return Threshold{}, err
	}
	if r == Argmax {
		return Threshold{Rule: Argmax, Value: 0.5}, nil
	}
	if len(labels) == 0 || len(labels) != len(scores) {
		return Threshold{}, fmt.Errorf("choose threshold: %d labels and %d scores: want the same, non-zero number", len(labels), len(scores))
	}
	pos := 0
	for i, l := range labels {
		if l != 0 && l != 1 {
			return Threshold{}, fmt.Errorf("choose threshold: label %d of image %d: want 0 (normal) or 1 (pneumonia)", l, i+1)
		}
		if s := scores[i]; math.IsNaN(s) || s < 0 || s > 1 {
			return Threshold{}, fmt.Errorf("choose threshold: score %v of image %d is not a probability (a diverged model?)", s, i+1)
		}
		pos += l
	}
	if pos == 0 || pos == len(labels) {
		return Threshold{}, ErrOneClass
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	P, N := float64(pos), float64(len(labels)-pos)
	var tp, fp float64
	best, bestJ := math.NaN(), math.Inf(-1)
	for k, i := range order {
		tp += float64(labels[i])
		fp += float64(1 - labels[i])
		if k+1 < len(order) && scores[order[k+1]] == scores[i] {
			continue // the threshold's group goes on
		}
		if r != Youden {
			if tp/P >= minSens {
				return Threshold{Rule: r, Value: scores[i]}, nil
			}
			continue
		}
		// J·P·N in integers, so that equal J compare equal whatever the rounding
		if j := tp*N - fp*P; j > bestJ {
			best, bestJ = scores[i], j
		}
	}
	if !(bestJ > 0) {
		return Threshold{}, ErrNoSeparation
	}
	return Threshold{Rule: r, Value: best}, nil
}
