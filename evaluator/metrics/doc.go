// Package metrics is the arithmetic of evaluation, with no TensorFlow, no files and no
// plots: sklearn's roc_auc_score, roc_curve, average_precision_score, confusion_matrix and
// classification_report (zero_division=0), statsmodels' Wilson interval, Hanley-McNeil
// AUC intervals, one-vs-rest AUCs, and calibration (Brier score, expected calibration
// error, reliability bins). Labels are class ids (two-class: 0 = normal, 1 = pneumonia);
// scores are p(pneumonia) or per-class probabilities.
//
// Training's val_auc and evaluator's metrics.json both come from here, so a number
// printed during training and one in an evaluation report are the same computation.
// Inputs are validated where a caller could pass bad data (ROCAUC, OneVsRestAUC return
// errors; ErrOneClass when the area is undefined); the other functions expect the
// validated labels and scores evaluator hands them.
//
//	auc, err := metrics.ROCAUC([]int{0, 1, 1}, []float64{0.2, 0.9, 0.4})
package metrics
