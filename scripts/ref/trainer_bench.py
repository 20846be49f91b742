"""Keras side of bench/train: training throughput of model.fit on the paper's model.

  trainer_bench.py --arch mobilenet --size 256 --batch 20 --epochs 3 --list LIST [--replicas 2]
                   [--precision float32|mixed_bfloat16|mixed_float16]

LIST holds one image path per line. The images are decoded and resized (PIL, bilinear)
to size x size and scaled to [0, 1] before timing, so fit reads them from memory, as
xray's loader does from its cache after the first epoch. The model is
tfgraph_reference.build's (keras.applications backbone, weights=None, and the paper's
head), compiled as the paper trains: SGD(0.001), categorical cross-entropy, accuracy.
Prints JSON: {"epoch_seconds": [...], "images": N, "images_per_s": <N / the fastest
epoch after the first (which includes tracing); the fastest, as other load on the
machine only ever slows an epoch down>, "keras": version, "jit_compile": bool, "precision": the
global dtype policy}.

--precision sets Keras's global dtype policy before the model is built
(keras.mixed_precision.set_global_policy; not with --replicas); under a mixed policy Keras keeps the variables in
float32 and, for mixed_float16, wraps the optimizer in a LossScaleOptimizer (compile does it).

With --replicas N > 1 the model is built and fit under tf.distribute.MirroredStrategy over N
logical CPU devices (bench/replicas' Keras side; the batch is the global batch).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfgraph_reference as ref  # noqa: E402  (sets TF env before importing keras)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ref.BACKBONES))
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--list", required=True)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    a = ap.parse_args()
    strategy = None
    if a.replicas > 1:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * a.replicas)
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(a.replicas)])

    paths = [p.strip() for p in open(a.list) if p.strip()]
    x = np.stack([
        np.asarray(Image.open(p).convert("RGB").resize((a.size, a.size), Image.BILINEAR), dtype=np.float32) / np.float32(255)
        for p in paths
    ])
    y = np.eye(2, dtype=np.float32)[np.arange(len(paths)) % 2]

    if strategy is None:
        _, model, _, _ = ref.build(a.arch, a.size, "avg", a.precision)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
    else:
        from trainer_mirrored_steps import build_in_scope

        a.pool = "avg"
        keras.backend.clear_session()
        with strategy.scope():
            model = build_in_scope(a)
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x, y, batch_size=a.batch, epochs=a.epochs, shuffle=True, verbose=0, callbacks=[timer])
    steady = timer.seconds[1:] or timer.seconds
    json.dump({
        "epoch_seconds": timer.seconds,
        "images": len(paths),
        "images_per_s": len(paths) / min(steady),
        "keras": keras.__version__,
        "jit_compile": bool(model.jit_compile),
        "precision": keras.mixed_precision.global_policy().name,
    }, sys.stdout)


if __name__ == "__main__":
    main()
