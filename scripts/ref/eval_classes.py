"""Reference metrics for N-class evaluator tests: sklearn on CSVs of class probabilities.

Usage: eval_classes.py FILE.csv...   (columns label,p_0,...,p_{N-1}; class 1 bacterial, 2 viral)
Prints one JSON object keyed by file name. Predictions are np.argmax over the probabilities.

- confusion_matrix and classification_report(labels=range(N), zero_division=0)
- roc_auc_score(multi_class="ovr") over the whole set: null when sklearn refuses it or
  returns NaN (a class absent from the labels), with sklearn's reason in ovr_refused; per class roc_auc_score(y == k, p[:, k]), null when undefined
- Hanley & McNeil (1982) intervals of each AUC written from the paper's formulas
- bacterial vs viral among the labels 1 and 2: argmax over (p_1, p_2), bacterial positive;
  accuracy_score, recall_score for each side, roc_auc_score on p_1 / (p_1 + p_2)
"""
import csv
import json
import math
import os
import sys
import warnings

import numpy as np
from scipy.stats import norm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             recall_score, roc_auc_score)

LEVEL = 0.95


def hanley_mcneil(a, pos, neg):
    if a is None or pos == 0 or neg == 0:
        return None, None
    z = norm.ppf(1 - (1 - LEVEL) / 2)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (pos - 1) * (q1 - a * a) + (neg - 1) * (q2 - a * a)) / (pos * neg))
    return max(0.0, a - z * se), min(1.0, a + z * se)


def auc(y, score):
    if len(set(y.tolist())) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        return float(roc_auc_score(y, score))


def row(d):
    return {"precision": d["precision"], "recall": d["recall"], "f1": d["f1-score"], "support": int(d["support"])}


def evaluate(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    y = np.array([int(r[0]) for r in rows])
    probs = np.array([[float(v) for v in r[1:]] for r in rows])
    k = probs.shape[1]
    pred = np.argmax(probs, axis=1)
    rep = classification_report(y, pred, labels=list(range(k)), zero_division=0, output_dict=True)
    out = {"confusion": confusion_matrix(y, pred, labels=list(range(k))).tolist(),
           "accuracy": accuracy_score(y, pred),
           "per_class": [row(rep[str(c)]) for c in range(k)],
           "macro": row(rep["macro avg"]), "weighted": row(rep["weighted avg"])}
    # A class absent from y: sklearn 1.6 warns and returns NaN (older versions raise).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        try:
            m = float(roc_auc_score(y, probs, multi_class="ovr", labels=list(range(k))))
        except ValueError as e:
            m, caught = float("nan"), [str(e)]
    out["ovr_macro"] = None if math.isnan(m) else m
    if out["ovr_macro"] is None:
        out["ovr_refused"] = str(caught[0].message if hasattr(caught[0], "message") else caught[0]) if caught else "NaN"
    out["per_class_auc"] = []
    for c in range(k):
        a = auc((y == c).astype(int), probs[:, c])
        pos = int((y == c).sum())
        lo, hi = hanley_mcneil(a, pos, len(y) - pos)
        out["per_class_auc"].append({"auc": a, "lower": lo, "upper": hi})
    sub = (y == 1) | (y == 2)
    yb = (y[sub] == 1).astype(int)
    two = probs[sub][:, [1, 2]]
    called = (np.argmax(two, axis=1) == 0).astype(int)
    a = auc(yb, two[:, 0] / two.sum(axis=1))
    lo, hi = hanley_mcneil(a, int(yb.sum()), int(len(yb) - yb.sum()))
    out["subtypes"] = {"n": int(sub.sum()), "accuracy": accuracy_score(yb, called),
                       "sensitivity": recall_score(yb, called, pos_label=1, zero_division=0),
                       "specificity": recall_score(yb, called, pos_label=0, zero_division=0),
                       "auc": a, "lower": lo, "upper": hi}
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(json.dumps(allow_nan=False, obj={os.path.basename(p): evaluate(p) for p in sys.argv[1:]}))


if __name__ == "__main__":
    main()
