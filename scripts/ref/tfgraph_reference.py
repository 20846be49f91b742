"""Keras reference for tfgraph: a keras.applications backbone (include_top=False,
weights=None) topped by the paper's head, with seeded random weights, run on real X-ray
images in inference mode, full training mode and head-only training mode (base not
trainable). Everything the Go test compares is written to OUT/ref.npz and OUT/meta.json.

  tfgraph_reference.py --arch mobilenet --size 256 --pool avg --out DIR IMAGE...
  tfgraph_reference.py --arch mobilenet --probe-sizes 126 127   # prints {"126": false, "127": true}

ref.npz keys (float32): x (the images, [N, S, S, 3] in [0, 1]); w/<path> for every weight
(w.path, e.g. conv_dw_1/depthwise_kernel); {infer,train,headtrain}/{features,logits,probs};
{train,headtrain}_moved/<path> for the BN moving statistics after that training call
(each call starts from the initial weights); train64/{features,logits,probs}: the training
call computed in float64 (the same model and weights under floatx float64), stored rounded
to float32, against which each float32 implementation's own rounding error is measured.
"""

import argparse
import io
import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# rich (model.summary) sizes its console from COLUMNS; wide enough for Keras's own
# 88/108-column tables instead of cropping them at 80.
os.environ["COLUMNS"] = "200"

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

BACKBONES = {
    "mobilenet": ("MobileNet", 32),
    "xception": ("Xception", 71),
    "inceptionv3": ("InceptionV3", 75),
}
HEAD_UNITS = (1024, 512, 256, 128, 64, 32)


def build(arch, size, pool, dtype_policy=None):
    """The paper's model, as its functional Keras code builds it in a fresh session, under
    dtype_policy (a Keras policy name such as mixed_bfloat16; None: float32), whose output
    layer is float32 as Keras's mixed-precision guide advises (xray's --precision does the
    same): Dense(2, softmax, dtype="float32")."""
    keras.backend.clear_session()  # fresh automatic layer names (and the float32 policy)
    if dtype_policy:
        keras.mixed_precision.set_global_policy(dtype_policy)
    ctor = getattr(keras.applications, BACKBONES[arch][0])
    base = ctor(include_top=False, weights=None, input_shape=(size, size, 3))
    pooling = layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D
    pooled = pooling((4, 4))(base.output)
    x = layers.Flatten()(pooled)
    for units in HEAD_UNITS:
        x = layers.Dense(units, activation="relu")(x)
    bn = layers.BatchNormalization()(x)
    out = layers.Dense(2, activation="softmax", dtype="float32" if dtype_policy else None)(bn)
    model = keras.Model(base.input, out)
    # Same layers, more outputs: the backbone's feature map and the head's BN output
    # (the input of the last Dense, from which the logits follow).
    probe = keras.Model(base.input, [base.output, bn, out])
    return base, model, probe, pooled


def size_works(arch, pool, size):
    """Whether the model builds at size with a non-empty 4x4-pooled feature map."""
    try:
        _, _, _, pooled = build(arch, size, pool)
    except ValueError:
        return False
    return all(d is not None and d >= 1 for d in pooled.shape[1:3])


def load_images(paths, size):
    xs = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB").resize((size, size), Image.BILINEAR)
            xs.append(np.asarray(im, dtype=np.float32) / np.float32(255))
    return np.stack(xs)


def random_weights(model, rng):
    """Seeded weights that make every op matter and keep activations O(1): He-scaled
    kernels, non-zero biases and betas, random gammas, moving means near zero and
    positive moving variances."""
    values = {}
    for layer in model.layers:
        depthwise = isinstance(layer, layers.DepthwiseConv2D)
        for w in layer.weights:
            kind = w.path.rsplit("/", 1)[-1]
            shape = tuple(w.shape)
            if kind == "depthwise_kernel" or (depthwise and kind == "kernel"):
                v = rng.normal(0, math.sqrt(2.0 / math.prod(shape[:2])), shape)  # per channel
            elif kind in ("kernel", "pointwise_kernel"):
                v = rng.normal(0, math.sqrt(2.0 / math.prod(shape[:-1])), shape)
            elif kind == "bias":
                v = rng.normal(0, 0.05, shape)
            elif kind == "gamma":
                v = rng.uniform(0.5, 1.5, shape)
            elif kind == "beta":
                v = rng.normal(0.1, 0.2, shape)
            elif kind == "moving_mean":
                v = rng.normal(0, 0.1, shape)
            elif kind == "moving_variance":
                v = rng.uniform(0.5, 1.5, shape)
            else:
                raise SystemExit(f"unexpected weight {w.path}")
            values[w.path] = np.asarray(v, dtype=np.float32)
    model.set_weights([values[w.path] for w in model.weights])


def calibrate_bn(model, x, rng):
    """Moves each BN layer's moving statistics near the statistics its input really has,
    so inference-mode activations neither explode nor die through a deep random network;
    perturbed so they still differ from the batch statistics. One eager pass over the
    layers in Keras's (topological) order, each BN calibrated just before it runs."""
    values = {id(model.inputs[0]): tf.convert_to_tensor(x)}

    def value(t):
        # Under a mixed policy the functional graph holds the input casts as operations
        # outside model.layers: run them too.
        if id(t) not in values:
            op, node_index, _ = t._keras_history
            values[id(t)] = op(*[value(u) for u in op._inbound_nodes[node_index].input_tensors])
        return values[id(t)]

    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        node = layer._inbound_nodes[0]
        ins = [value(t) for t in node.input_tensors]
        if isinstance(layer, layers.BatchNormalization):
            a = np.asarray(ins[0])
            axes = tuple(range(a.ndim - 1))
            mean, var = a.mean(axis=axes), a.var(axis=axes)
            layer.moving_mean.assign((mean + rng.normal(0, 0.1, mean.shape) * np.sqrt(var + 1e-3)).astype(np.float32))
            layer.moving_variance.assign((var * rng.uniform(0.7, 1.3, var.shape) + 1e-2).astype(np.float32))
        out = layer(ins if len(ins) > 1 else ins[0], training=False)
        values[id(node.output_tensors[0])] = out


def initializers(model):
    """Keras's default initialiser of every weight: {"uniform": limit} for the
    VarianceScaling family (glorot_uniform), {"constant": value} for zeros/ones."""
    from keras.src.initializers.random_initializers import VarianceScaling, compute_fans

    # DepthwiseConv2D's weight is "kernel" in Keras 3, drawn by depthwise_initializer.
    attrs = {"depthwise_kernel": "depthwise_initializer", "pointwise_kernel": "pointwise_initializer"}
    spec = {}
    for layer in model.layers:
        for w in layer.weights:
            kind = w.path.rsplit("/", 1)[-1]
            attr = attrs.get(kind, kind + "_initializer")
            if isinstance(layer, layers.DepthwiseConv2D):
                attr = {"kernel": "depthwise_initializer"}.get(kind, attr)
            init = getattr(layer, attr)
            if isinstance(init, VarianceScaling):
                if init.distribution != "uniform":
                    raise SystemExit(f"{w.path}: unexpected initializer {init.get_config()}")
                fan_in, fan_out = compute_fans(w.shape)
                scale = init.scale
                if init.mode == "fan_in":
                    scale /= max(1.0, fan_in)
                elif init.mode == "fan_out":
                    scale /= max(1.0, fan_out)
                else:
                    scale /= max(1.0, (fan_in + fan_out) / 2.0)
                spec[w.path] = {"uniform": math.sqrt(3.0 * scale)}
            else:
                spec[w.path] = {"constant": float(np.asarray(init((1,), dtype="float32"))[0])}
    return spec


def run(probe, dense_last, x, training):
    feats, bn, probs = probe(x, training=training)
    kernel, bias = dense_last.kernel, dense_last.bias
    logits = tf.add(tf.matmul(bn, kernel), bias)  # Dense's own ops, before its softmax
    return {"features": np.asarray(feats), "logits": np.asarray(logits), "probs": np.asarray(probs)}


def moving_stats(model):
    return {
        w.path: np.asarray(w)
        for w in model.weights
        if w.path.endswith("/moving_mean") or w.path.endswith("/moving_variance")
    }


def train64(a, initial, x):
    """The training-mode forward pass in float64 on the same weights and images."""
    keras.config.set_floatx("float64")
    try:
        _, model, probe, _ = build(a.arch, a.size, a.pool)
        model.set_weights([v.astype(np.float64) for v in initial])
        return run(probe, model.layers[-1], x.astype(np.float64), True)
    finally:
        keras.config.set_floatx("float32")


def inbound(layer):
    names = []
    for node in layer._inbound_nodes:
        for t in node.input_tensors:
            names.append(t._keras_history.operation.name)
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(BACKBONES))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--pool", default="avg", choices=("avg", "max"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--probe-sizes", action="store_true", help="the positional arguments are input sizes to try")
    ap.add_argument("images", nargs="*")
    a = ap.parse_args()

    if a.probe_sizes:
        json.dump({s: size_works(a.arch, a.pool, int(s)) for s in a.images}, sys.stdout)
        return
    if not a.out or not a.images:
        ap.error("--out and images are required")

    base, model, probe, _ = build(a.arch, a.size, a.pool)
    init = initializers(model)
    x = load_images(a.images, a.size)
    rng = np.random.default_rng(a.seed)
    random_weights(model, rng)
    calibrate_bn(model, x, rng)
    initial = [np.asarray(w) for w in model.weights]
    dense_last = model.layers[-1]

    arrays = {"x": x}
    for w, v in zip(model.weights, initial):
        arrays["w/" + w.path] = v
    for k, v in run(probe, dense_last, x, False).items():
        arrays["infer/" + k] = v
    for k, v in run(probe, dense_last, x, True).items():  # updates the moving statistics
        arrays["train/" + k] = v
    for k, v in moving_stats(model).items():
        arrays["train_moved/" + k] = v

    # Head-only training: the base not trainable, so its BN layers run in inference mode.
    model.set_weights(initial)
    for layer in base.layers:
        layer.trainable = False
    for k, v in run(probe, dense_last, x, True).items():
        arrays["headtrain/" + k] = v
    for k, v in moving_stats(model).items():
        arrays["headtrain_moved/" + k] = v
    for layer in base.layers:
        layer.trainable = True

    buf = io.StringIO()
    model.summary(print_fn=lambda s, **kw: buf.write(s))
    footer = [ln.strip() for ln in buf.getvalue().splitlines() if "params:" in ln]

    for k, v in train64(a, initial, x).items():
        arrays["train64/" + k] = v.astype(np.float32)

    os.makedirs(a.out, exist_ok=True)
    np.savez(os.path.join(a.out, "ref.npz.tmp.npz"), **arrays)
    os.replace(os.path.join(a.out, "ref.npz.tmp.npz"), os.path.join(a.out, "ref.npz"))
    meta = {
        "keras_version": keras.__version__,
        "model_name": model.name,
        "weights": [[w.path, list(w.shape)] for w in model.weights],
        "count_params": model.count_params(),
        "trainable_params": int(sum(math.prod(w.shape) for w in model.trainable_weights)),
        "non_trainable_params": int(sum(math.prod(w.shape) for w in model.non_trainable_weights)),
        "layers": [
            {
                "name": layer.name,
                "class": layer.__class__.__name__,
                "output_shape": list(layer.output.shape[1:]),
                "params": layer.count_params(),
                "inbound": inbound(layer),
            }
            for layer in model.layers
        ],
        "base_layers": [layer.name for layer in base.layers],
        "initializers": init,
        "summary_footer": footer,
        "summary": buf.getvalue(),
        "stats": {k: [float(np.abs(v).mean()), float(v.std())] for k, v in arrays.items() if not k.startswith("w/")},
    }
    tmp = os.path.join(a.out, "meta.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(a.out, "meta.json"))


if __name__ == "__main__":
    main()
