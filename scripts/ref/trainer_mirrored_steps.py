"""Keras reference for trainer's data-parallel parity test: the paper's model under
tf.distribute.MirroredStrategy over REPLICAS logical CPU devices (one physical CPU split
with tf.config.set_logical_device_configuration), started from a Keras 3 weight file
(trainer_keras_steps.py's init.weights.h5), trained with model.fit one global batch at a
time in a fixed order (shuffle off), recording every variable after every step.

  trainer_mirrored_steps.py --arch mobilenet --size 128 --batch 4 --steps 3 --lr 0.001 \
      --replicas 2 --modes sgd,momentum --init INIT.weights.h5 --list LIST.csv --out DIR

LIST.csv as trainer_keras_steps.py reads it (split,label,path; S x S PNGs). model.fit under
the strategy splits each global batch over the replicas (replica 0 the first half);
train_on_batch would not (every replica gets the whole batch), so it is not used here.

What is recorded of a MirroredVariable is its primary (replica 0) copy: what Keras reads,
saves and exports. BatchNormalization's moving statistics have aggregation "none", so
each replica updates its own copy from its own half-batch; the copies differ, and the
other replicas' are recorded as replica<i>/<mode>/step<k>/<path> (moving statistics only).

OUT/ref.npz (float32), the layout of trainer_keras_steps.py's:
  init/<path>, <mode>/step<k>/<path>, <mode>/step<k>/slot/<path> (momentum),
  <mode>/loss, <mode>/accuracy (fit's per step), <mode>/val_loss, <mode>/val_accuracy
  (model.evaluate on the val images with batch BATCH after step k, under the strategy).
done is written last.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfgraph_reference as ref  # noqa: E402  (sets TF env before importing keras)
from trainer_keras_steps import read_list  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODES = {"sgd": 0.0, "momentum": 0.9}


def build_in_scope(a):
    """ref.build inside the strategy's scope, the session cleared before entering it:
    ref.build clears it first (for fresh layer names), which inside the scope would drop
    the strategy."""
    clear = keras.backend.clear_session
    keras.backend.clear_session = lambda: None
    try:
        _, model, _, _ = ref.build(a.arch, a.size, a.pool)
    finally:
        keras.backend.clear_session = clear
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ref.BACKBONES))
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--pool", default="avg", choices=("avg", "max"))
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--modes", default="sgd")
    ap.add_argument("--init", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * a.replicas)
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(a.replicas)])

    data = read_list(a.list, a.size)
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    if len(x_train) < a.batch * a.steps:
        raise SystemExit(f"{len(x_train)} train images, need {a.batch * a.steps}")

    os.makedirs(a.out, exist_ok=True)
    arrays = {"x_train": x_train, "x_val": x_val}
    for mode in a.modes.split(","):
        keras.backend.clear_session()
        with strategy.scope():
            model = build_in_scope(a)
            model.load_weights(a.init)
            opt = keras.optimizers.SGD(learning_rate=a.lr, momentum=MODES[mode])
            model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
        if "init/" + model.weights[0].path not in arrays:
            for w in model.weights:
                arrays["init/" + w.path] = np.asarray(w)
        hist = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        for k in range(a.steps):
            sl = slice(k * a.batch, (k + 1) * a.batch)
            h = model.fit(x_train[sl], y_train[sl], batch_size=a.batch, epochs=1, shuffle=False, verbose=0)
            hist["loss"].append(h.history["loss"][0])
            hist["accuracy"].append(h.history["accuracy"][0])
            ev = model.evaluate(x_val, y_val, batch_size=a.batch, verbose=0, return_dict=True)
            hist["val_loss"].append(ev["loss"])
            hist["val_accuracy"].append(ev["accuracy"])
            prefix = f"{mode}/step{k + 1}/"
            for w in model.weights:
                arrays[prefix + w.path] = np.asarray(w)
                copies = getattr(w.value, "values", ())
                if not w.trainable:
                    for i, c in enumerate(copies[1:], start=1):
                        arrays[f"replica{i}/{prefix}{w.path}"] = np.asarray(c)
            if MODES[mode]:
                for w in model.trainable_variables:
                    arrays[prefix + "slot/" + w.path] = np.asarray(opt.momentums[opt._get_variable_index(w)])
        for k, v in hist.items():
            arrays[f"{mode}/{k}"] = np.asarray(v, dtype=np.float32)

    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(os.path.join(a.out, "ref.tmp.npz"), **arrays)
    os.replace(os.path.join(a.out, "ref.tmp.npz"), os.path.join(a.out, "ref.npz"))
    with open(os.path.join(a.out, "done"), "w") as f:
        f.write(f"keras {keras.__version__}, {a.replicas} replicas\n")


if __name__ == "__main__":
    main()
