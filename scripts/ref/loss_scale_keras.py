"""Keras reference for trainer's loss-scaling test: keras.optimizers.LossScaleOptimizer
(what Keras 3's compile wraps around the optimizer under mixed_float16) around
SGD(lr, momentum), on the loss sum(w * x_k) of one float32 weight w [3], stepped as Keras's
TensorFlow train_step does (scale_loss, gradients, apply). x_k = (k mod 5 + 1) / 8 *
[1, -2, 3]; at the steps listed by --inf (1-based) x_k[1] is +inf, so that step's gradient is
not finite.

  loss_scale_keras.py --steps 2010 --inf 3,4 --lr 0.01 --momentum 0.9 --out OUT.npz

OUT.npz (float32): x [steps, 3] the inputs, scale [steps] and counter [steps] the
dynamic_scale and step_counter after each step, w [steps, 3] the weight after each step,
w0 [3] the initial weight.
"""
import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def inputs(steps, inf):
    x = np.zeros((steps, 3), dtype=np.float32)
    for k in range(steps):
        x[k] = np.float32((k % 5 + 1) / 8) * np.array([1, -2, 3], dtype=np.float32)
        if k + 1 in inf:
            x[k, 1] = np.inf
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--inf", default="")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    inf = {int(s) for s in a.inf.split(",") if s}

    w0 = np.array([0.5, -0.25, 1.0], dtype=np.float32)
    w = keras.Variable(w0, name="w")
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=a.lr, momentum=a.momentum))
    x = inputs(a.steps, inf)

    @tf.function
    def step(xk):
        with tf.GradientTape() as tape:
            loss = opt.scale_loss(tf.reduce_sum(w.value * xk))
        grads = tape.gradient(loss, [w.value])
        opt.apply(grads, [w])

    opt.build([w])
    scale, counter, ws = [], [], []
    for k in range(a.steps):
        step(tf.constant(x[k]))
        scale.append(float(opt.dynamic_scale.numpy()))
        counter.append(float(opt.step_counter.numpy()))
        ws.append(np.asarray(w.numpy()))
    tmp = a.out + ".tmp.npz"
    np.savez(tmp, x=x, w0=w0, scale=np.asarray(scale, dtype=np.float32),
             counter=np.asarray(counter, dtype=np.float32), w=np.stack(ws).astype(np.float32))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
