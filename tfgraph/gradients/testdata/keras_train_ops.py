"""Lists the op types Keras 3 (TensorFlow backend) differentiates through when it trains the
paper's models: each backbone (MobileNet v1, Xception, InceptionV3; include_top=False,
weights=None) under the paper's head (pooling, Flatten, Dense + ReLU, BatchNormalization,
Dense softmax) with categorical cross-entropy, traced as the forward pass of a training step
(training=True) in a tf.function.

An op type is listed when an op of that type lies on a data path from a trainable variable to
the loss, i.e. its gradient is needed. Prints JSON {model: [types]}.

Usage: keras_train_ops.py
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402


def model(backbone, size, pool):
    base = backbone(input_shape=(size, size, 3), include_top=False, weights=None)
    x = base.output
    side = min(4, x.shape[1])
    x = (layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D)((side, side))(x)
    x = layers.Flatten()(x)
    # The paper's widths are 1024 ... 32; the op types do not depend on them.
    for width in (16, 8):
        x = layers.Dense(width, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dense(2, activation="softmax")(x)
    return keras.Model(base.input, x)


def ops_on_gradient_paths(m, size):
    loss_fn = keras.losses.CategoricalCrossentropy()

    # The forward pass of a training step; the backward pass is what Go builds.
    @tf.function
    def forward(images, labels):
        return loss_fn(labels, m(images, training=True))

    cf = forward.get_concrete_function(
        tf.TensorSpec([2, size, size, 3], tf.float32), tf.TensorSpec([2, 2], tf.float32))
    loss = cf.outputs[0]
    # Ops the loss depends on.
    reaches, stack = set(), [loss.op]
    while stack:
        o = stack.pop()
        if o.name in reaches:
            continue
        reaches.add(o.name)
        stack.extend(t.op for t in o.inputs)
    # Forward from the trainable variables' captured handles, keeping ops the loss depends on.
    trainable = {id(v.handle) for v in m.trainable_variables}
    starts = [internal.op for external, internal in cf.graph.captures if id(external) in trainable]
    if len(starts) != len(m.trainable_variables):
        raise SystemExit(f"found {len(starts)} captured handles for {len(m.trainable_variables)} trainable variables")
    types, seen, stack = set(), set(), list(starts)
    while stack:
        o = stack.pop()
        if o.name in seen:
            continue
        seen.add(o.name)
        if o not in starts:
            types.add(o.type)
        for out in o.outputs:
            stack.extend(c for c in out.consumers() if c.name in reaches)
    return sorted(types)


def main():
    keras.utils.set_random_seed(0)
    apps = keras.applications
    result = {}
    # Both pooling kinds once; the backbones already contain MaxPool and AvgPool themselves.
    for name, backbone, size, pool in (("MobileNet", apps.MobileNet, 128, "avg"),
                                       ("MobileNet", apps.MobileNet, 128, "max"),
                                       ("Xception", apps.Xception, 128, "avg"),
                                       ("InceptionV3", apps.InceptionV3, 139, "avg")):
        result[f"{name} {pool}-pool head"] = ops_on_gradient_paths(model(backbone, size, pool), size)
        keras.backend.clear_session()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
