package metrics

import "math"

// CalibrationBins is the number of equal-width bins of the expected calibration error
// and the reliability diagram.
const CalibrationBins = 15

// CalibrationBin is one bin of p(pneumonia): the images whose score lies in
// (Lower, Upper] (the first bin includes 0), their mean score and the share that truly
// has pneumonia. A calibrated model has MeanScore close to FractionPositive.
type CalibrationBin struct {
	Lower            float64 `json:"lower"`
	Upper            float64 `json:"upper"`
	Count            int     `json:"count"`
	MeanScore        float64 `json:"mean_score"`
	FractionPositive float64 `json:"fraction_positive"`
}

// Calibration says how far p(pneumonia) is from the observed frequency of pneumonia.
type Calibration struct {
	// Brier is sklearn's brier_score_loss: the mean of (p_pneumonia - label)^2.
	Brier float64 `json:"brier"`
	// ECE is the expected calibration error over CalibrationBins equal-width bins of
	// p(pneumonia): sum over bins of count/N * |mean score - fraction positive|.
	ECE float64 `json:"ece"`
	// Bins are the non-empty bins, in increasing score, as
	// sklearn.calibration.calibration_curve(strategy="uniform") bins them.
	Bins []CalibrationBin `json:"bins"`
}

// Calibrate computes the Brier score, the ECE and the reliability bins. Labels and
// scores are validated by the caller and not empty.
func Calibrate(labels []int, scores []float64) Calibration {
	var c Calibration
	var count [CalibrationBins]int
	var sumScore, sumPos [CalibrationBins]float64
	for i, s := range scores {
		d := s - float64(labels[i])
		c.Brier += d * d
		b := calibrationBin(s)
		count[b]++
		sumScore[b] += s
		sumPos[b] += float64(labels[i])
	}
	n := float64(len(scores))
	c.Brier /= n
	for b := range count {
		if count[b] == 0 {
			continue
		}
		k := float64(count[b])
		bin := CalibrationBin{Lower: binEdge(b), Upper: binEdge(b + 1), Count: count[b],
			MeanScore: sumScore[b] / k, FractionPositive: sumPos[b] / k}
		c.ECE += k / n * math.Abs(bin.MeanScore-bin.FractionPositive)
		c.Bins = append(c.Bins, bin)
	}
	return c
}

// binEdge is numpy's linspace(0, 1, CalibrationBins+1)[k].
func binEdge(k int) float64 {
	if k == CalibrationBins {
		return 1
	}
	return float64(k) * (1.0 / CalibrationBins)
}

// calibrationBin is the bin of score s: the number of inner edges below it, as
// np.searchsorted(edges[1:-1], s) (side "left": a score on an edge goes to the lower bin).
func calibrationBin(s float64) int {
	b := 0
	for b < CalibrationBins-1 && binEdge(b+1) < s {
		b++
	}
	return b
}
