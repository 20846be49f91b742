"""Reference for package perturb: the shift report's perturbations written independently
with numpy, scipy and Pillow, on images given as lossless PNGs.

  perturb_ref.py CONFIG.json OUT.npz

CONFIG: {"images": [{"name": N, "path": P, "seed": S}], "perturbations": [{"perturbation":
K, "level": L, "param": V}]}. OUT.npz holds "<N>/<K>-<L>" = the perturbed image, uint8 HxW
(gray) or HxWx3 (RGB), as perturb.Apply returns it.
"""

import io
import json
import os
import sys

import numpy as np
from PIL import Image
from scipy import ndimage

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def rint8(y):
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def splitmix(z):
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def normals(seed, n):
    k = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        a = splitmix(np.uint64(seed) + (np.uint64(2) * k + np.uint64(1)) * GOLDEN)
        b = splitmix(np.uint64(seed) + (np.uint64(2) * k + np.uint64(2)) * GOLDEN)
    u1 = ((a >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0**-53
    u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def perturb(a, kind, v, seed):
    x = a.astype(np.float64)
    h, w = a.shape[:2]
    if kind == "contrast":
        m = x.mean()
        return rint8((x - m) * v + m)
    if kind == "brightness":
        return rint8(x + 255 * v)
    if kind == "gamma":
        return rint8(255 * (x / 255) ** v)
    if kind == "noise":
        z = normals(seed, h * w).reshape(h, w)
        if a.ndim == 3:
            z = z[..., None]
        return rint8(x + 255 * v * z)
    if kind == "blur":
        s = v * min(h, w) / 224
        sig = (s, s) if a.ndim == 2 else (s, s, 0)
        return rint8(ndimage.gaussian_filter(x, sig, mode="reflect", truncate=4.0))
    if kind == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "JPEG", quality=int(v))
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    if kind == "resolution":
        im = Image.fromarray(a)
        small = im.resize((max(1, int(w * v + 0.5)), max(1, int(h * v + 0.5))), Image.BILINEAR)
        return np.asarray(small.resize((w, h), Image.BILINEAR))
    raise SystemExit(f"unknown perturbation {kind}")


def fnv1a(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    cfg = json.load(open(sys.argv[1]))
    out = {}
    for img in cfg["images"]:
        a = np.asarray(Image.open(img["path"]))
        seed = int(img["seed"])
        assert seed == fnv1a(img["name"]), "seed is FNV-1a of the name"
        for p in cfg["perturbations"]:
            out[f'{img["name"]}/{p["perturbation"]}-{p["level"]}'] = perturb(a, p["perturbation"], p["param"], seed)
    tmp = sys.argv[2] + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, sys.argv[2])


if __name__ == "__main__":
    main()
