"""Occlusion-sensitivity reference: the xray SavedModel's serving_default in Python
TensorFlow, patches in numpy.

  occlusion_ref.py SAVEDMODEL IMAGE.f32 CLASSES PATCH STRIDE OUTDIR

IMAGE.f32 is one preprocessed image, float32 little-endian [S, S, 3]; CLASSES the class
ids explained, comma-separated (-1: the predicted one), each written to OUTDIR/drop<i>.npy
in order. Each patch position (top-left corners 0, STRIDE, ...
while the patch fits) is filled with the image's mean value; OUT.npy is the [S, S] float32
maps of the mean, over the patches covering each pixel, of p(class) minus p(class)
occluded (0 where no patch reaches).
"""
import sys

import numpy as np
import tensorflow as tf


def drop_map(f, x, cls, patch, stride):
    s = x.shape[0]
    p = f(image=tf.constant(x[None]))["probabilities"].numpy()[0]
    c = int(p.argmax()) if cls < 0 else cls
    fill = np.float32(x.astype(np.float64).mean())
    corners = [(y, z) for y in range(0, s - patch + 1, stride) for z in range(0, s - patch + 1, stride)]
    total, count = np.zeros((s, s)), np.zeros((s, s))
    for i in range(0, len(corners), 32):
        chunk = corners[i:i + 32]
        batch = np.repeat(x[None], len(chunk), axis=0)
        for k, (y, z) in enumerate(chunk):
            batch[k, y:y + patch, z:z + patch, :] = fill
        q = f(image=tf.constant(batch))["probabilities"].numpy()[:, c]
        for k, (y, z) in enumerate(chunk):
            total[y:y + patch, z:z + patch] += float(p[c]) - float(q[k])
            count[y:y + patch, z:z + patch] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0).astype(np.float32)


def main(d, raw, classes, patch, stride, out):
    f = tf.saved_model.load(d).signatures["serving_default"]
    s = f.structured_input_signature[1]["image"].shape[1]
    x = np.fromfile(raw, dtype="<f4").reshape(s, s, 3)
    for i, c in enumerate(classes.split(",")):
        np.save(f"{out}/drop{i}.npy", drop_map(f, x, int(c), patch, stride))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], int(a[3]), int(a[4]), a[5])
