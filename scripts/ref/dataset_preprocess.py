"""Reference preprocessing for dataset tests: PIL and TensorFlow on the same image files.

usage: dataset_preprocess.py OUTDIR SIZE[,SIZE...] FILE...

For each input FILE number i it writes raw little-endian arrays OUTDIR/i.<name>.bin and an
index OUTDIR/index.json ({"files": [{"path", "arrays": {name: {"shape", "dtype"}}}]}); the
resized arrays are named <name>-<S> for each size S:

  pildec   uint8 HxWx3  PIL decode, ImageOps.exif_transpose, convert("RGB")
  tfdec    uint8 HxWx3  tf.io.decode_jpeg(channels=3, dct_method="INTEGER_ACCURATE"), which
                        decodes PNG too (libjpeg ISLOW / libpng; ignores EXIF)
  pil      uint8 SxSx3  PIL: pildec.resize((S, S), BILINEAR)              (PIL end to end)
  pilres   uint8 SxSx3  PIL: Image.fromarray(tfdec).resize((S, S), BILINEAR) (resize only)
  tf       f32   SxSx3  tf.image.resize(tfdec, (S, S), "bilinear", antialias=True), unrounded
  tf2      uint8 SxSx3  the in-graph mirror of the Go path: ScaleAndTranslate(triangle,
                        antialias) along the width, floor(clip(x, 0, 255) + 0.5003), then
                        along the height, the same rounding (see package dataset's doc)
"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps
import tensorflow as tf


def scale_translate(x, out_h, out_w):
    """One ScaleAndTranslate pass on a [1, h, w, 3] float32 tensor."""
    h, w = int(x.shape[1]), int(x.shape[2])
    scale = tf.constant([out_h / h, out_w / w], tf.float32)
    return tf.raw_ops.ScaleAndTranslate(
        images=x, size=tf.constant([out_h, out_w], tf.int32), scale=scale,
        translation=tf.zeros([2], tf.float32), kernel_type="triangle", antialias=True)


def round_u8(x):
    # Round half up like Go's imaging. The 3e-4 nudge: TF samples at float32 positions
    # (1/scale is inexact), which puts many of Go's exact halves a hair below .5; with it the
    # mirror matches Go on all but ~0.1 % of values (off by one), without it up to ~3 %.
    return tf.floor(tf.clip_by_value(x, 0.0, 255.0) + 0.5003)


def go_mirror(dec, size):
    """Width pass, round to uint8 values, height pass, round (disintegration/imaging's order).
    Both passes always run: a pass at scale 1 is an exact identity, so the graph needs no
    shape-dependent branch."""
    x = tf.cast(dec, tf.float32)[None]
    h = int(dec.shape[0])
    x = round_u8(scale_translate(x, h, size))
    x = round_u8(scale_translate(x, size, size))
    return tf.cast(x[0], tf.uint8).numpy()


def main():
    out, sizes, files = sys.argv[1], [int(v) for v in sys.argv[2].split(",")], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    index = {"files": []}
    for i, path in enumerate(files):
        raw = open(path, "rb").read()
        arrays = {}
        with Image.open(path) as im:
            pil_img = ImageOps.exif_transpose(im).convert("RGB")
        arrays["pildec"] = np.asarray(pil_img, np.uint8)
        # DecodeJpeg also decodes PNG; INTEGER_ACCURATE is libjpeg's ISLOW IDCT (the default,
        # INTEGER_FAST, is off by up to ~6 levels from PIL and Go).
        dec = tf.io.decode_jpeg(raw, channels=3, dct_method="INTEGER_ACCURATE")
        arrays["tfdec"] = dec.numpy()
        for size in sizes:
            arrays[f"pil-{size}"] = np.asarray(pil_img.resize((size, size), Image.BILINEAR), np.uint8)
            arrays[f"pilres-{size}"] = np.asarray(
                Image.fromarray(arrays["tfdec"]).resize((size, size), Image.BILINEAR), np.uint8)
            arrays[f"tf-{size}"] = tf.image.resize(
                dec, (size, size), method="bilinear", antialias=True).numpy().astype(np.float32)
            arrays[f"tf2-{size}"] = go_mirror(dec, size)
        entry = {"path": path, "arrays": {}}
        for name, a in arrays.items():
            a = np.ascontiguousarray(a)
            a.astype(a.dtype.newbyteorder("<")).tofile(os.path.join(out, f"{i}.{name}.bin"))
            entry["arrays"][name] = {"shape": list(a.shape), "dtype": str(a.dtype)}
        index["files"].append(entry)
    with open(os.path.join(out, "index.json.tmp"), "w") as f:
        json.dump(index, f)
    os.replace(os.path.join(out, "index.json.tmp"), os.path.join(out, "index.json"))


if __name__ == "__main__":
    main()
