"""Reference metrics for evaluator tests: sklearn on predictions CSVs.

Usage: eval_metrics.py FILE.csv...   (columns path,label,predicted,p_normal,p_pneumonia)
Prints one JSON object keyed by file name. Predictions are recomputed here with
np.argmax over (p_normal, p_pneumonia) (first maximum wins), not read from the file.

Definitions mirrored by the Go evaluator:
- classification_report(labels=[0, 1], zero_division=0, output_dict=True)
- roc_auc_score and roc_curve on p_pneumonia; null when one class is present
- average_precision_score on p_pneumonia; null when there is no positive (sklearn warns
  "No positive class found" and returns a meaningless 0 there)
- brier_score_loss on p_pneumonia; calibration_curve(n_bins=15, strategy="uniform")
  (null with one class present: sklearn refuses it); the expected calibration error written
  here with numpy: 15 equal-width bins of p_pneumonia, a score on an inner edge in the
  lower bin, sum of count/N * |mean score - fraction positive|
- Wilson score intervals written from Wilson's 1927 definition (not statsmodels' form):
  (x + z^2/2) / (n + z^2)  +-  z sqrt(n) / (n + z^2) * sqrt(p(1-p) + z^2 / (4n)),
  z = scipy.stats.norm.ppf(1 - (1 - level) / 2)
"""
import csv
import json
import math
import os
import sys
import warnings

import numpy as np
from scipy.stats import norm
from sklearn.calibration import calibration_curve
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, average_precision_score,
                             brier_score_loss, classification_report,
                             confusion_matrix,
                             roc_auc_score, roc_curve)

LEVEL = 0.95
BINS = 15


def ece(y, score):
    edges = np.linspace(0.0, 1.0, BINS + 1)
    total = 0.0
    for b in range(BINS):
        lo, hi = edges[b], edges[b + 1]
        inside = (score > lo) & (score <= hi) if b > 0 else (score >= lo) & (score <= hi)
        if inside.any():
            total += inside.sum() / len(y) * abs(score[inside].mean() - y[inside].mean())
    return float(total)


def wilson(x, n, level=LEVEL):
    if n == 0:
        return None
    z = norm.ppf(1 - (1 - level) / 2)
    p = x / n
    center = (x + z * z / 2) / (n + z * z)
    half = z * math.sqrt(n) / (n + z * z) * math.sqrt(p * (1 - p) + z * z / (4 * n))
    return {"estimate": p, "lower": max(0.0, center - half), "upper": min(1.0, center + half),
            "successes": int(x), "trials": int(n)}


def row(d):
    return {"precision": d["precision"], "recall": d["recall"], "f1": d["f1-score"], "support": int(d["support"])}


def evaluate(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(r["label"]) for r in rows])
    probs = np.array([[float(r["p_normal"]), float(r["p_pneumonia"])] for r in rows])
    pred = np.argmax(probs, axis=1)
    score = probs[:, 1]
    cm = confusion_matrix(y, pred, labels=[0, 1])
    rep = classification_report(y, pred, labels=[0, 1], zero_division=0, output_dict=True)
    out = {
        "confusion": cm.tolist(),
        "predicted": pred.tolist(),
        "accuracy": accuracy_score(y, pred),
        "per_class": [row(rep["0"]), row(rep["1"])],
        "macro": row(rep["macro avg"]),
        "weighted": row(rep["weighted avg"]),
    }
    # With one class present, sklearn 1.6 warns and returns NaN (older versions raise).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            auc = roc_auc_score(y, score)
    except ValueError:
        auc = float("nan")
    if math.isnan(auc):
        out["roc_auc"], out["roc_fpr"], out["roc_tpr"] = None, [], []
    else:
        fpr, tpr, _ = roc_curve(y, score)
        out["roc_auc"], out["roc_fpr"], out["roc_tpr"] = auc, fpr.tolist(), tpr.tolist()
    if (y == 1).any():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out["average_precision"] = average_precision_score(y, score)
    else:
        out["average_precision"] = None
    out["brier"] = float(brier_score_loss(y, score))
    out["ece"] = ece(y, score)
    if len(set(y.tolist())) == 2:
        prob_true, prob_pred = calibration_curve(y, score, n_bins=BINS, strategy="uniform")
        out["cal_true"], out["cal_pred"] = prob_true.tolist(), prob_pred.tolist()
    else:
        out["cal_true"], out["cal_pred"] = None, None
    tn, fp, fn, tp = (int(v) for v in cm.ravel())
    out["sensitivity"] = wilson(tp, tp + fn)
    out["specificity"] = wilson(tn, tn + fp)
    out["accuracy_ci"] = wilson(tn + tp, len(y))
    # The paper's Table 1 format, as Python's %-formatting rounds.
    out["table1"] = ["%.3f" % out["accuracy"]] + [
        "%.2f" % rep[c][k] for c in ("0", "1") for k in ("precision", "recall", "f1-score")]
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(json.dumps(allow_nan=False, obj={os.path.basename(p): evaluate(p) for p in sys.argv[1:]}))


if __name__ == "__main__":
    main()
