"""Loads an xray SavedModel with Python TensorFlow and runs both signatures.

Usage: savedmodel_check.py DIR OUT.json [--images RAW N] [FILE ...]

  DIR          the SavedModel directory (holds saved_model.pb)
  --images     RAW is N preprocessed images, float32 little-endian [N, S, S, 3] (S from
               the serving_default signature); they go through serving_default
  FILE ...     encoded JPEG/PNG files; they go through serving_bytes as one batch

Writes OUT.json: {"default": {"probabilities": [[p0, p1], ...], "class_id": [...]},
"bytes": {...}, "gradcam": {... "heatmap": [N][S][S]} (serving_gradcam on the files, when
the model has it), "gradcam_pixels": {"heatmap": ...} (its heatmap tensor fed the
preprocessed images, through the loaded object's prune), "checkpoint": [[key, shape], ...], "variables": [{"name", "shape", "trainable"}], "signatures": {name:
{"inputs": {key: {"dtype", "shape"}}, "outputs": {...}}}}. This is what a Python user of
the model does: tf.saved_model.load(DIR).signatures[...].
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf


def spec(t):
    return {"dtype": t.dtype.name, "shape": [-1 if d is None else int(d) for d in t.shape]}


def main(argv):
    d, out_path, rest = argv[0], argv[1], argv[2:]
    raw, n = None, 0
    if rest[:1] == ["--images"]:
        raw, n, rest = rest[1], int(rest[2]), rest[3:]
    m = tf.saved_model.load(d)
    out = {"signatures": {}, "variables": []}
    for name, f in m.signatures.items():
        out["signatures"][name] = {
            "inputs": {k: spec(v) for k, v in f.structured_input_signature[1].items()},
            "outputs": {k: spec(v) for k, v in f.structured_outputs.items()},
        }
    out["checkpoint"] = [[k, list(s)] for k, s in tf.train.list_variables(os.path.join(d, "variables", "variables"))]
    for v in m.variables:
        out["variables"].append({"name": v.name, "shape": v.shape.as_list(), "trainable": bool(v.trainable)})

    def result(r):
        out = {"probabilities": r["probabilities"].numpy().astype(float).tolist(),
               "class_id": r["class_id"].numpy().astype(int).tolist()}
        if "heatmap" in r:
            out["heatmap"] = r["heatmap"].numpy().astype(float).tolist()
        return out

    gradcam = "serving_gradcam" in m.signatures

    if raw is not None:
        f = m.signatures["serving_default"]
        s = f.structured_input_signature[1]["image"].shape[1]
        x = np.fromfile(raw, dtype="<f4").reshape(n, s, s, 3)
        out["default"] = result(f(image=tf.constant(x)))
        if gradcam:
            from tensorflow.python.tools import saved_model_utils

            sig = saved_model_utils.get_meta_graph_def(d, "serve").signature_def
            heat = m.prune(sig["serving_default"].inputs["image"].name, sig["serving_gradcam"].outputs["heatmap"].name)
            out["gradcam_pixels"] = {"heatmap": heat(tf.constant(x)).numpy().astype(float).tolist()}
    if rest:
        blobs = [open(p, "rb").read() for p in rest]
        out["bytes"] = result(m.signatures["serving_bytes"](image_bytes=tf.constant(blobs)))
        if gradcam:
            out["gradcam"] = result(m.signatures["serving_gradcam"](image_bytes=tf.constant(blobs)))
    with open(out_path, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(sys.argv[1:])
