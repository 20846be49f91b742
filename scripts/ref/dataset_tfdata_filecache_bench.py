"""tf.data baseline for bench/cache: cached epochs read from a file made by .cache(filename).

usage: dataset_tfdata_filecache_bench.py SIZE BATCH EPOCHS CACHEFILE FILE...

The pipeline is bench/loader's (tf.io.read_file, decode_jpeg channels=3 INTEGER_ACCURATE,
tf.image.resize bilinear antialias, /255, num_parallel_calls=AUTOTUNE) with
.cache(CACHEFILE) after the map, then batch and prefetch: tf.data's on-disk cache of the
resized float32 images. One untimed epoch fills the file (or, when a previous run left it
complete, reads it), then EPOCHS epochs are timed one by one. Prints JSON {"epochs": [{"seconds":
..., "cpu_seconds": ...}, ...], "images": N, "cache_bytes": B} (CPU time: user + system over
all threads).
"""
import glob
import json
import os
import resource
import sys
import time

import tensorflow as tf


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    size, batch, epochs, cache, files = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]

    def load(path):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")
        img = tf.image.resize(img, (size, size), method="bilinear", antialias=True)
        return img / 255.0

    ds = tf.data.Dataset.from_tensor_slices(files).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.cache(cache).batch(batch).prefetch(tf.data.AUTOTUNE)
    n = sum(int(b.shape[0]) for b in ds)  # fill (or first read of) the cache file
    assert n == len(files), (n, len(files))
    out = []
    for _ in range(epochs):
        start, cpu0 = time.perf_counter(), cpu()
        for b in ds:
            _ = b.shape
        out.append({"seconds": time.perf_counter() - start, "cpu_seconds": cpu() - cpu0})
    size_on_disk = sum(os.path.getsize(p) for p in glob.glob(cache + "*"))
    print(json.dumps({"epochs": out, "images": n, "cache_bytes": size_on_disk}))


if __name__ == "__main__":
    main()
