"""Reference operating thresholds for decision tests, from sklearn's roc_curve.

Usage: decision_threshold.py FILE.csv...   (columns label,score)
Prints one JSON object keyed by file name: {"youden": t, "sensitivity": {"0.95": t, ...}}.
- youden: the roc_curve threshold maximising tpr - fpr (computed as tp*N - fp*P in
  integers, so that equal J tie exactly); np.argmax takes the first, i.e. the highest
  threshold among ties.
- sensitivity:x: the first (highest) roc_curve threshold with tpr >= x.
"""
import csv
import json
import os
import sys

import numpy as np
from sklearn.metrics import roc_curve

SENSITIVITIES = ["0.5", "0.8", "0.9", "0.95", "0.99", "1"]


def thresholds(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(r["label"]) for r in rows])
    s = np.array([float(r["score"]) for r in rows])
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    P, N = int((y == 1).sum()), int((y == 0).sum())
    j = np.round(tpr * P) * N - np.round(fpr * N) * P
    out = {"youden": float(thr[int(np.argmax(j))]), "sensitivity": {}}
    for x in SENSITIVITIES:
        out["sensitivity"][x] = float(thr[int(np.argmax(tpr >= float(x)))])
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(json.dumps({os.path.basename(p): thresholds(p) for p in sys.argv[1:]}, allow_nan=False))


if __name__ == "__main__":
    main()
