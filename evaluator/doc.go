// Package evaluator turns per-image class probabilities into the paper's evaluation:
// argmax predictions, the confusion matrix (rows true, columns predicted; 0 = normal,
// 1 = pneumonia), sklearn's classification report, the Table 1 row, and beyond the paper
// ROC AUC, average precision, sensitivity, specificity and Wilson 95 % intervals, and
// calibration (Brier score, expected calibration error over 15 bins). It writes
// predictions.csv, metrics.json, report.md, confusion.png, roc.png and calibration.png
// (evaluator/compare sets runs' metrics.json beside the paper's Table 1). For a model of
// more classes (normal, bacterial, viral) those are its normal-vs-pneumonia view, and
// EvaluateClasses and BacterialVsViral add the N x N matrix, per-class metrics and
// one-vs-rest AUCs, and the bacterial-vs-viral view (metrics.json multiclass and
// bacterial_vs_viral, confusion_classes.png).
//
// The numbers themselves come from evaluator/metrics (no TensorFlow; training uses it for
// val_auc). This package adds the records and files around them: Evaluate and Run take
// []Record, from a saved predictions.csv or from evaluator/predict, which runs a
// SavedModel over a split's images. It runs no model and imports no TensorFlow: the
// shift report (evaluator/shift) and the errors page with its Grad-CAM heatmaps
// (evaluator/errorspage) are the packages beside it that do.
package evaluator
