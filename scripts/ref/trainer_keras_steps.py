"""Keras reference for trainer's step parity test: the paper's model (a keras.applications
backbone with include_top=False, weights=None, and the paper's head, built exactly as
tfgraph_reference.py builds it), seeded random weights with calibrated, non-trivial
BatchNormalization statistics, then a few SGD steps with train_on_batch on fixed batches
in a fixed order, recording every variable after every step.

  trainer_keras_steps.py --arch mobilenet --size 128 --batch 4 --steps 3 --lr 0.001 \
      --style smooth --modes sgd,momentum,freeze --list LIST.csv --out DIR

LIST.csv lines: split,label,path (split train or val, label 0 normal / 1 pneumonia, path a
PNG already S x S: read losslessly, scaled by 1/255, no resampling). The train images are
used in file order, batch k = images [k*B, (k+1)*B).

Weight styles (both from tfgraph_reference.random_weights, then calibrate_bn):
  random    as drawn there: ReLU/ReLU6 inputs centred on their kinks. With a handful of
            elements per channel in the deep layers and gradients that grow with depth at a
            random initialisation, the gradient is not continuous at float32 resolution:
            perturbing the initial weights by 1e-8 (relative) changes an update after one
            step by ~3e-4 and after two by several percent, in Keras itself (float64 too).
            Only step 1 from identical weights is comparable to 1e-4.
  smooth    the backbone's BatchNormalization gamma ~ U(0.4, 0.6) and beta ~ N(1.5, 0.1)
            (beta ~ N(3, 0.1) where there is no gamma), so activations sit mostly between
            the kinks (about 0.1 % of them beyond): a training trajectory that rounding does
            not derail, comparable step after step.

Modes (each starts from the same initial weights with a freshly compiled optimizer):
  sgd          keras.optimizers.SGD(lr), the paper's optimizer
  momentum     SGD(lr, momentum=0.9)
  freeze       SGD(lr) with every backbone layer trainable=False (xray train --freeze-base)
  classweight  SGD(lr), train_on_batch(class_weight={0: 1.5, 1: 0.5}) (--class-weight 1.5,0.5)
  adam         keras.optimizers.Adam(lr), Keras defaults (--optimizer adam)
  adamw        keras.optimizers.AdamW(lr, weight_decay=0.5) (--optimizer adamw --weight-decay 0.5:
               a decay large enough to show beside Adam's step)
  cosine       SGD(CosineDecay(lr, decay_steps=STEPS)) (--lr-schedule cosine over one epoch
               of STEPS batches)
  smoothing    SGD(lr), CategoricalCrossentropy(label_smoothing=0.1), in fit and evaluate
               (--label-smoothing 0.1)

--policy mixed_bfloat16 (or mixed_float16) builds the model under that Keras global dtype
policy (tfgraph_reference.build: the output Dense float32), xray's --precision; the
weights are drawn and saved in float32 as in the float32 runs.

OUT receives init.weights.h5 (Keras 3 save_weights of the initial model, what
`xray train --init` reads) and ref.npz (float32):
  x_train, x_val                   the batches exactly as fed to Keras
  init/<path>                      every weight (w.path) before training
  <mode>/step<k>/<path>            every weight after step k (1-based)
  <mode>/step<k>/slot/<path>       the SGD momentum of each trainable weight (momentum mode)
  <mode>/step<k>/slot_m/<path>, slot_v/<path>   Adam's first and second moments (adam, adamw)
  <mode>/loss, <mode>/accuracy     [steps] train_on_batch's loss and accuracy of each step
  <mode>/val_loss, <mode>/val_accuracy   [steps] model.evaluate on the val images after step k
done is written last.
"""

import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfgraph_reference as ref  # noqa: E402  (sets TF env before importing keras)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

MODES = {
    "sgd": dict(momentum=0.0, freeze=False),
    "momentum": dict(momentum=0.9, freeze=False),
    "freeze": dict(momentum=0.0, freeze=True),
    "classweight": dict(momentum=0.0, freeze=False, class_weight={0: 1.5, 1: 0.5}),
    "adam": dict(freeze=False, optimizer="adam"),
    "adamw": dict(freeze=False, optimizer="adamw"),
    "cosine": dict(momentum=0.0, freeze=False, schedule="cosine"),
    "smoothing": dict(momentum=0.0, freeze=False, label_smoothing=0.1),
}


def make_optimizer(spec, lr, steps):
    """The mode's optimizer, freshly built (its slots start at zero, iterations at 0)."""
    if spec.get("schedule") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(initial_learning_rate=lr, decay_steps=steps)
    if spec.get("optimizer") == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if spec.get("optimizer") == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=0.5)
    return keras.optimizers.SGD(learning_rate=lr, momentum=spec["momentum"])


def read_list(path, size):
    data = {"train": ([], []), "val": ([], [])}
    with open(path, newline="") as f:
        for split, label, p in csv.reader(f):
            with Image.open(p) as im:
                if im.size != (size, size) or im.format != "PNG":
                    raise SystemExit(f"{p}: {im.format} {im.size}, want a {size}x{size} PNG (no resampling here)")
                a = np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255)
            data[split][0].append(a)
            data[split][1].append(np.eye(2, dtype=np.float32)[int(label)])
    return {k: (np.stack(x), np.stack(y)) for k, (x, y) in data.items() if x}


def smooth_bn(base, rng):
    """Moves the backbone's BN outputs away from the ReLU/ReLU6 kinks (see the doc)."""
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            centre = 3.0
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.4, 0.6, layer.gamma.shape).astype(np.float32))
                centre = 1.5
            layer.beta.assign(rng.normal(centre, 0.1, layer.beta.shape).astype(np.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ref.BACKBONES))
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--pool", default="avg", choices=("avg", "max"))
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--modes", default="sgd")
    ap.add_argument("--style", default="smooth", choices=("random", "smooth"))
    ap.add_argument("--policy", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    ap.add_argument("--list", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    data = read_list(a.list, a.size)
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    if len(x_train) < a.batch * a.steps:
        raise SystemExit(f"{len(x_train)} train images, need {a.batch * a.steps}")

    base, model, _, _ = ref.build(a.arch, a.size, a.pool, None if a.policy == "float32" else a.policy)
    rng = np.random.default_rng(a.seed)
    ref.random_weights(model, rng)
    if a.style == "smooth":
        smooth_bn(base, rng)
    ref.calibrate_bn(model, np.concatenate([x_train, x_val]), rng)
    initial = [np.asarray(w) for w in model.weights]

    os.makedirs(a.out, exist_ok=True)
    model.save_weights(os.path.join(a.out, "init.weights.h5"))
    arrays = {"x_train": x_train, "x_val": x_val}
    for w, v in zip(model.weights, initial):
        arrays["init/" + w.path] = v

    for mode in a.modes.split(","):
        spec = MODES[mode]
        model.set_weights(initial)
        for layer in base.layers:
            layer.trainable = not spec["freeze"]
        opt = make_optimizer(spec, a.lr, a.steps)
        loss = "categorical_crossentropy"
        if spec.get("label_smoothing"):
            loss = keras.losses.CategoricalCrossentropy(label_smoothing=spec["label_smoothing"])
        model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        hist = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        for k in range(a.steps):
            sl = slice(k * a.batch, (k + 1) * a.batch)
            # Keras 3's train_on_batch does not reset the loss and metric trackers (and
            # evaluate leaves its own values in them): reset, so each step reports its batch.
            model.reset_metrics()
            logs = model.train_on_batch(x_train[sl], y_train[sl], class_weight=spec.get("class_weight"), return_dict=True)
            hist["loss"].append(logs["loss"])
            hist["accuracy"].append(logs["accuracy"])
            ev = model.evaluate(x_val, y_val, batch_size=a.batch, verbose=0, return_dict=True)
            hist["val_loss"].append(ev["loss"])
            hist["val_accuracy"].append(ev["accuracy"])
            prefix = f"{mode}/step{k + 1}/"
            for w in model.weights:
                arrays[prefix + w.path] = np.asarray(w)
            if spec.get("momentum"):
                for w in model.trainable_variables:
                    arrays[prefix + "slot/" + w.path] = np.asarray(opt.momentums[opt._get_variable_index(w)])
            if spec.get("optimizer") in ("adam", "adamw"):
                for w in model.trainable_variables:
                    i = opt._get_variable_index(w)
                    arrays[prefix + "slot_m/" + w.path] = np.asarray(opt._momentums[i])
                    arrays[prefix + "slot_v/" + w.path] = np.asarray(opt._velocities[i])
        for k, v in hist.items():
            arrays[f"{mode}/{k}"] = np.asarray(v, dtype=np.float32)
    for layer in base.layers:
        layer.trainable = True

    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(os.path.join(a.out, "ref.tmp.npz"), **arrays)
    os.replace(os.path.join(a.out, "ref.tmp.npz"), os.path.join(a.out, "ref.npz"))
    with open(os.path.join(a.out, "done"), "w") as f:
        f.write(f"keras {keras.__version__}\n")


if __name__ == "__main__":
    main()
