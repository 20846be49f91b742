"""Keras reference for trainer's step parity with a head of N classes (xray train
--classes normal,bacterial,viral): trainer_keras_steps.py, unchanged, with the paper's
last Dense(2, softmax) built as Dense(N, softmax) and the labels one-hot over N.

  trainer_keras_classes.py --classes 3 [trainer_keras_steps.py's arguments]

LIST.csv labels are class ids 0..N-1. The classweight mode weights the classes 1.5, 0.5
and then 1.0 for every further class (--class-weight 1.5,0.5,1). Everything else (modes,
outputs) is trainer_keras_steps.py's; this wrapper leaves that script, and the cache keys
of the two-class references, as they are.
"""

import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfgraph_reference as ref  # noqa: E402  (sets TF env before importing keras)
import trainer_keras_steps as steps  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

pre = argparse.ArgumentParser(add_help=False)
pre.add_argument("--classes", type=int, required=True)
known, rest = pre.parse_known_args()
CLASSES = known.classes
if CLASSES < 2:
    raise SystemExit(f"--classes {CLASSES}: need 2 or more")


class _Layers:
    """keras.layers, with the head's softmax Dense N wide (tfgraph_reference.build)."""

    def __getattr__(self, name):
        return getattr(keras.layers, name)

    @staticmethod
    def Dense(units, **kw):
        if kw.get("activation") == "softmax":
            units = CLASSES
        return keras.layers.Dense(units, **kw)


def read_list(path, size):
    """trainer_keras_steps.read_list with labels one-hot over CLASSES."""
    data = {"train": ([], []), "val": ([], [])}
    with open(path, newline="") as f:
        for split, label, p in csv.reader(f):
            with Image.open(p) as im:
                if im.size != (size, size) or im.format != "PNG":
                    raise SystemExit(f"{p}: {im.format} {im.size}, want a {size}x{size} PNG (no resampling here)")
                a = np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255)
            data[split][0].append(a)
            data[split][1].append(np.eye(CLASSES, dtype=np.float32)[int(label)])
    return {k: (np.stack(x), np.stack(y)) for k, (x, y) in data.items() if x}


ref.layers = _Layers()
steps.read_list = read_list
steps.MODES["classweight"]["class_weight"] = {k: [1.5, 0.5][k] if k < 2 else 1.0 for k in range(CLASSES)}
sys.argv = [sys.argv[0]] + rest
steps.main()
