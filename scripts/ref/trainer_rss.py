"""Keras side of bench/rss: a training run as a Keras user writes it, for its peak memory.

  trainer_rss.py --arch mobilenet --size 256 --batch 20 --epochs 1 --list LIST [--freeze-base]

LIST holds one "LABEL PATH" per line (LABEL 0 normal, 1 pneumonia). The input pipeline is
the tf.data idiom of the TensorFlow guides: file names shuffled, then read + decode_jpeg
(channels=3, INTEGER_ACCURATE, the decoder xray runs) + tf.image.resize(bilinear,
antialias=True) + /255 mapped in parallel, .cache() (in memory: the resized float32 images),
batch, prefetch; model.fit over it, so the first epoch passes over every image and fills
the cache. The model is tfgraph_reference.build's (weights=None), compiled as the paper
trains (SGD(0.001), categorical cross-entropy, accuracy); --freeze-base trains the head only
(base.trainable = False, its BN layers in inference mode), as xray train --freeze-base.
The caller measures the whole process's peak RSS; this prints JSON {"images", "steps",
"epoch_seconds", "maxrss_bytes": this process's own ru_maxrss}.
"""

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfgraph_reference as ref  # noqa: E402  (sets TF env before importing keras)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ref.BACKBONES))
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--list", required=True)
    ap.add_argument("--freeze-base", action="store_true")
    a = ap.parse_args()

    rows = [line.split(" ", 1) for line in open(a.list).read().splitlines() if line.strip()]
    labels = [int(r[0]) for r in rows]
    paths = [r[1] for r in rows]

    def load(path, label):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")
        img = tf.image.resize(img, (a.size, a.size), method="bilinear", antialias=True) / 255.0
        return img, tf.one_hot(label, 2)

    ds = (tf.data.Dataset.from_tensor_slices((paths, labels))
          .shuffle(len(paths), seed=42)
          .map(load, num_parallel_calls=tf.data.AUTOTUNE)
          .cache()
          .batch(a.batch)
          .prefetch(tf.data.AUTOTUNE))

    base, model, _, _ = ref.build(a.arch, a.size, "avg")
    if a.freeze_base:
        base.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
    seconds = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - t0)
    json.dump({
        "images": len(paths),
        "steps": a.epochs * -(-len(paths) // a.batch),
        "epoch_seconds": seconds,
        "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }, sys.stdout)


if __name__ == "__main__":
    main()
