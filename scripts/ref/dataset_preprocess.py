"""Reference preprocessing for the preprocess tests: PIL and TensorFlow on the same image files.

usage: dataset_preprocess.py OUTDIR SIZE[,SIZE...] FILE...

For each input FILE number i it writes raw little-endian arrays OUTDIR/i.<name>.bin and an
index OUTDIR/index.json ({"files": [{"path", "arrays": {name: {"shape", "dtype"}}}]}); the
resized arrays are named <name>-<S> for each size S:

  pildec   uint8 HxWx3  PIL decode, ImageOps.exif_transpose, convert("RGB")
  tfdec    uint8 HxWx3  tf.io.decode_jpeg(channels=3, dct_method="INTEGER_ACCURATE"), which
                        decodes PNG too (libjpeg-turbo ISLOW / libpng; ignores EXIF)
  updec    uint8 HxWxC  the reference decode, written here in Python: decode_jpeg(channels=0,
                        INTEGER_ACCURATE), channels 0..2 of RGB(A), channel 0 of gray(+alpha),
                        EXIF orientation (read by PIL) undone with numpy transposes and flips
  ref      uint8 SxSx3  the reference preprocessing from updec: tf.image.resize(bilinear,
                        antialias=True), floor(clip(x, 0, 255) + 0.5), gray repeated to RGB
  pil      uint8 SxSx3  PIL: pildec.resize((S, S), BILINEAR)              (PIL end to end)
  tf       f32   SxSx3  tf.image.resize(tfdec, (S, S), "bilinear", antialias=True), unrounded
"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps
import tensorflow as tf


def upright(raw, path):
    dec = tf.io.decode_jpeg(raw, channels=0, dct_method="INTEGER_ACCURATE").numpy()
    dec = dec[..., :3] if dec.shape[2] >= 3 else dec[..., :1]
    o = 1
    if raw[:2] == b"\xff\xd8":
        with Image.open(path) as im:
            o = im.getexif().get(0x0112, 1)
    if o in (5, 6, 7, 8):
        dec = dec.transpose(1, 0, 2)
    if o in (2, 3, 6, 7):
        dec = dec[:, ::-1]
    if o in (3, 4, 7, 8):
        dec = dec[::-1]
    return np.ascontiguousarray(dec)


def reference(up, size):
    """Resize, round half up; gray repeated to RGB."""
    x = tf.image.resize(tf.cast(up, tf.float32), (size, size), method="bilinear", antialias=True)
    x = tf.cast(tf.floor(tf.clip_by_value(x, 0.0, 255.0) + 0.5), tf.uint8).numpy()
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x


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
        arrays["updec"] = upright(raw, path)
        for size in sizes:
            arrays[f"pil-{size}"] = np.asarray(pil_img.resize((size, size), Image.BILINEAR), np.uint8)
            arrays[f"tf-{size}"] = tf.image.resize(
                dec, (size, size), method="bilinear", antialias=True).numpy().astype(np.float32)
            arrays[f"ref-{size}"] = reference(arrays["updec"], size)
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
