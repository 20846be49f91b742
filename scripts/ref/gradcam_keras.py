"""Keras reference for Grad-CAM: the paper's model (tfgraph_reference.build) with seeded
random weights and randomised BN statistics, and the Grad-CAM heatmaps of real X-rays
computed with tf.GradientTape in the manner of the Keras Grad-CAM example
(keras.io/examples/vision/grad_cam), batched: the last Dense's activation removed to get
the pre-softmax logits, the gradient of the class logit with respect to the layer's
output averaged over space, ReLU of the weighted channel sum, tf.image.resize (bilinear)
to the input side, divided by each image's maximum. The margin target (xray's default
explanation) differentiates logit[c] - max(logits of the other classes) instead of logit[c].

  gradcam_keras.py --arch mobilenet --size 128 --out DIR [--layer NAME ...] IMAGE...
  gradcam_keras.py --bench N --arch mobilenet --size 128 IMAGE...   # prints images/s, eager and tf.function

OUT/ref.npz (float32): x, w/<weight path>, pred (argmax class per image), and for each
layer L: heat/L/pred (the predicted class) and heat/L/<c> for every class c, and the same
for the margin target under margin/L/pred and margin/L/<c>.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tfgraph_reference as ref  # noqa: E402

DEFAULT_LAYER = {"mobilenet": "conv_pw_13_relu", "xception": "block14_sepconv2_act", "inceptionv3": "mixed10"}


def grad_model(model, layer):
    model.layers[-1].activation = None  # pre-softmax logits, as the Keras example does
    return keras.Model(model.inputs, [model.get_layer(layer).output, model.output])


def gradcam_tensors(gm, x, classes, size, margin=False):
    with tf.GradientTape() as tape:
        conv, logits = gm(x, training=False)
        picked = tf.gather(logits, classes, axis=1, batch_dims=1)
        if margin:
            own = tf.one_hot(classes, logits.shape[1]) > 0
            others = tf.where(own, tf.constant(-np.inf, logits.dtype), logits)
            picked = picked - tf.reduce_max(others, axis=1)
    grads = tape.gradient(picked, conv)
    alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(alpha * conv, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, (size, size), method="bilinear")[..., 0]
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(cam, peak), logits


def gradcam(gm, x, classes, size, margin=False):
    heat, logits = gradcam_tensors(gm, x, classes, size, margin)
    return heat.numpy(), logits.numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(DEFAULT_LAYER))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--pool", default="avg", choices=("avg", "max"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layer", action="append", help="layers to explain (default: the last conv feature map)")
    ap.add_argument("--out")
    ap.add_argument("--bench", type=int, default=0, help="time N passes of Grad-CAM on the images instead")
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()

    _, model, _, _ = ref.build(a.arch, a.size, a.pool)
    x = ref.load_images(a.images, a.size)
    rng = np.random.default_rng(a.seed)
    ref.random_weights(model, rng)
    ref.calibrate_bn(model, x, rng)
    weights = {"w/" + w.path: np.asarray(w) for w in model.weights}
    layers = a.layer or [DEFAULT_LAYER[a.arch]]

    if a.bench:
        # Eager, as the Keras example runs it, and compiled with tf.function (no Python per
        # op), each traced/warmed once, then timed over N passes.
        gm = grad_model(model, layers[0])
        classes = np.zeros(len(x), np.int64)
        compiled = tf.function(lambda x, c: gradcam_tensors(gm, x, c, a.size))
        rates = {}
        for name, fn in (("eager", lambda: gradcam(gm, x, classes, a.size)),
                         ("tf_function", lambda: compiled(tf.constant(x), tf.constant(classes))[0].numpy())):
            fn()
            start = time.perf_counter()
            for _ in range(a.bench):
                fn()
            rates[name] = a.bench * len(x) / (time.perf_counter() - start)
        json.dump({"images_per_s": rates}, sys.stdout)
        return
    if not a.out:
        ap.error("--out is required")

    arrays = {"x": x, **weights}
    for layer in layers:
        gm = grad_model(model, layer)
        _, logits = gradcam(gm, x, np.zeros(len(x), np.int64), a.size)
        pred = logits.argmax(axis=1)
        arrays["pred"] = pred.astype(np.float32)
        for prefix, margin in (("heat", False), ("margin", True)):
            arrays[f"{prefix}/{layer}/pred"], _ = gradcam(gm, x, pred, a.size, margin)
            for c in range(logits.shape[1]):
                arrays[f"{prefix}/{layer}/{c}"], _ = gradcam(gm, x, np.full(len(x), c, np.int64), a.size, margin)
    arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    os.makedirs(a.out, exist_ok=True)
    np.savez(os.path.join(a.out, "ref.npz.tmp.npz"), **arrays)
    os.replace(os.path.join(a.out, "ref.npz.tmp.npz"), os.path.join(a.out, "ref.npz"))


if __name__ == "__main__":
    main()
