"""Reference for xray ensembles and test-time augmentation (docs/ensemble.md), in Python TF.

Usage: ensemble_ref.py CONFIG.json OUT.json

CONFIG: {"images": RAW, "n": N, "files": [FILE, ...], "cases": [{"name", "ensemble": DIR,
"members": [DIR, ...], "weights": [w, ...], "tta": V}]}. RAW holds N preprocessed images,
float32 little-endian [N, S, S, 3], S and scaling those of the ensemble (its serving_default).

For each case it loads the ensemble with tf.saved_model.load and runs its three
signatures ("python": default on the images, bytes and gradcam on the files), and computes
what docs/ensemble.md says they return from the members, each loaded and run on its own
("reference"):
  default: per member, the images resized to its side (tf.image.resize, bilinear), rescaled
           to its scaling, cut into the first V views (tf.image.crop_and_resize with the
           boxes below), run through its serving_default; the mean over views, then the
           weighted mean (weights normalized) over members;
  bytes:   the weighted mean of the members' serving_bytes (cases without views);
  heatmap: the weighted mean of the members' serving_gradcam heatmaps for the class the
           ensemble's serving_gradcam returns, resized to S, clipped to [0, 1].
Writes OUT: {name: {"python": {...}, "reference": {...}}}.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

# docs/ensemble.md's views (y1, x1, y2, x2), written here from the docs, not from Go.
VIEWS = [
    (0, 0, 1, 1),
    (0.05, 0.05, 0.95, 0.95),
    (0, 0, 0.9, 0.9),
    (0, 0.1, 0.9, 1),
    (0.1, 0, 1, 0.9),
    (0.1, 0.1, 1, 1),
    (0.025, 0.025, 0.975, 0.975),
    (0.1, 0.1, 0.9, 0.9),
]


def meta(d):
    with open(os.path.join(d, "assets.extra", "xray.json")) as fh:
        return json.load(fh)


def rescale(x, src, dst):
    if src == dst:
        return x
    if dst == "imagenet":
        return x * 2.0 - 1.0
    return (x + 1.0) / 2.0


def views(x, n, side):
    out = [x]
    b = x.shape[0]
    for box in VIEWS[1:n]:
        out.append(tf.image.crop_and_resize(x, [list(box)] * b, list(range(b)), [side, side]))
    return out


def heatmaps(m, d, blobs, classes):
    from tensorflow.python.tools import saved_model_utils

    sig = saved_model_utils.get_meta_graph_def(d, "serve").signature_def["serving_gradcam"]
    f = m.prune([sig.inputs["image_bytes"].name, "gradcam/class/PlaceholderWithDefault:0"], sig.outputs["heatmap"].name)
    return f(tf.constant(blobs), tf.constant(classes, tf.int64))


def case(c, x, blobs):
    ens = tf.saved_model.load(c["ensemble"])
    py = {}
    r = ens.signatures["serving_default"](image=tf.constant(x))
    py["default"] = r["probabilities"].numpy()
    r = ens.signatures["serving_bytes"](image_bytes=tf.constant(blobs))
    py["bytes"] = r["probabilities"].numpy()
    r = ens.signatures["serving_gradcam"](image_bytes=tf.constant(blobs))
    py["heatmap"], cls = r["heatmap"].numpy(), r["class_id"].numpy()
    size, scaling = x.shape[1], meta(c["ensemble"])["preprocessing"]

    w = np.array(c["weights"], np.float64)
    w = w / w.sum()
    ref = {"default": 0.0, "bytes": 0.0, "heatmap": 0.0}
    for wi, d in zip(w, c["members"]):
        m, mm = tf.saved_model.load(d), meta(d)
        side = mm["input_size"]
        xi = tf.constant(x)
        if side != size:
            xi = tf.image.resize(xi, [side, side], method="bilinear")
        xi = rescale(xi, scaling, mm["preprocessing"])
        f = m.signatures["serving_default"]
        p = np.mean([f(image=v)["probabilities"].numpy() for v in views(xi, c["tta"], side)], axis=0)
        ref["default"] = ref["default"] + wi * p.astype(np.float64)
        ref["bytes"] = ref["bytes"] + wi * m.signatures["serving_bytes"](image_bytes=tf.constant(blobs))["probabilities"].numpy().astype(np.float64)
        h = heatmaps(m, d, blobs, cls)
        if side != size:
            h = tf.image.resize(h[..., None], [size, size], method="bilinear")[..., 0]
        ref["heatmap"] = ref["heatmap"] + wi * h.numpy().astype(np.float64)
    ref["heatmap"] = np.clip(ref["heatmap"], 0, 1)
    if c["tta"] > 1:
        del ref["bytes"]
    tolist = lambda d: {k: np.asarray(v).astype(float).tolist() for k, v in d.items()}
    return {"python": tolist(py), "reference": tolist(ref)}


def main(cfg_path, out_path):
    with open(cfg_path) as fh:
        cfg = json.load(fh)
    blobs = [open(p, "rb").read() for p in cfg["files"]]
    out = {}
    for c in cfg["cases"]:
        s = meta(c["ensemble"])["input_size"]
        x = np.fromfile(cfg["images"][c["name"]], dtype="<f4").reshape(cfg["n"], s, s, 3)
        out[c["name"]] = case(c, x, blobs)
    with open(out_path, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(*sys.argv[1:])
