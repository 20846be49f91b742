"""tf.data baseline for bench/loader: read + decode + resize + scale + batch, in parallel.

usage: dataset_tfdata_bench.py SIZE BATCH EPOCHS FILE...

Two pipelines, each timed the same way:
  uncached  mirrors the Go loader without its cache: tf.io.read_file, decode_jpeg (channels=3,
            INTEGER_ACCURATE, also decodes PNG), tf.image.resize(bilinear, antialias=True),
            /255, batch, prefetch, with num_parallel_calls=AUTOTUNE;
  cached    the same with .cache() after the map (the usual tf.data idiom; it keeps the
            resized float32 images in memory), the counterpart of the Go loader's cache.
Each gets one warm-up epoch (tracing; for cached, filling the cache), then EPOCHS timed
epochs. Prints JSON {"uncached": R, "cached": R} with R = {"images_per_s": ...,
"images_per_cpu_s": ..., "images": ..., "seconds": ..., "cpu_seconds": ...}; CPU time is user +
system over all threads, which a busy shared machine distorts less than wall-clock time.
"""
import json
import resource
import sys
import time

import tensorflow as tf


def main():
    size, batch, epochs, files = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]

    def load(path):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")
        img = tf.image.resize(img, (size, size), method="bilinear", antialias=True)
        return img / 255.0

    mapped = tf.data.Dataset.from_tensor_slices(files).map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    out = {}
    for name, ds in (("uncached", mapped), ("cached", mapped.cache())):
        out[name] = timed(ds.batch(batch).prefetch(tf.data.AUTOTUNE), epochs, len(files))
    print(json.dumps(out))


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(ds, epochs, files):
    n = 0
    for b in ds:  # warm-up: tracing, and filling a cache
        n += int(b.shape[0])
    assert n == files, (n, files)
    start, cpu0 = time.perf_counter(), cpu()
    for _ in range(epochs):
        for b in ds:
            _ = b.shape
    secs, cpus = time.perf_counter() - start, cpu() - cpu0
    n = epochs * files
    return {"images_per_s": n / secs, "images_per_cpu_s": n / cpus, "images": n,
            "seconds": secs, "cpu_seconds": cpus}


if __name__ == "__main__":
    main()
