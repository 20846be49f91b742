"""Builds testdata/ from the shared Kermany copies (run once; the output is committed).

usage: dataset_make_testdata.py SHARED_DATA_DIR REPO_TESTDATA_DIR

  chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/  ~80 images per class, Kaggle layout:
      mostly the 224 x 224 re-encodes, some originals resized to 512 px wide (JPEG q90),
      a few originals byte-for-byte (grayscale, RGB, progressive, up to 1252 x 1028).
      Whole patients go to one folder, several patients have 2-4 images.
  formats/   tiny crops in every encoding the decoder supports (EXIF orientations 1..8,
      16-bit PNG, CMYK JPEG, paletted, alpha, progressive) for the decode tests
  bad/       files ingest must skip: truncated, empty, text named .jpeg, 16 x 16 image
Deterministic (seeded); existing output folders are replaced.
"""
import io
import os
import random
import re
import shutil
import sys

import numpy as np
from PIL import Image

SEED = 20180222
UNTOUCHED = {
    "NORMAL": ["IM-0482-0001.jpeg"],  # 1252 x 1028 grayscale, 347 KB
    "PNEUMONIA": [
        "person325_virus_659.jpeg",        # 445 x 140 RGB
        "person1669_bacteria_4422.jpeg",   # 482 x 163 RGB
        "person773_virus_1402.jpeg",       # 952 x 480 grayscale
        "person1571_bacteria_4110.jpeg",   # 1296 x 848 grayscale, progressive, EXIF
    ],
}
RESIZED = 6          # originals per class re-encoded at 512 px wide
FROM_224 = 72        # 224 x 224 images per class (approximate: whole patients)
FOLDERS = [("train", 0.75), ("test", 0.20), ("val", 0.05)]


def patient(name):
    m = re.match(r"(person\d+)_", name) or re.match(r"((?:NORMAL2-)?IM-\d+)-", name)
    return m.group(1) if m else os.path.splitext(name)[0]


def group(names):
    g = {}
    for n in sorted(names):
        g.setdefault(patient(n), []).append(n)
    return g


def main():
    shared, out = sys.argv[1], sys.argv[2]
    rng = random.Random(SEED)
    tree = os.path.join(out, "chest_xray")
    for d in ("chest_xray", "formats", "bad"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    for cls in ("NORMAL", "PNEUMONIA"):
        orig_dir = os.path.join(shared, "kermany-originals", "train", cls)
        small_dir = os.path.join(shared, "kermany-224", "train", cls)
        originals = sorted(os.listdir(orig_dir))
        used_patients = {patient(n) for n in originals}  # keep 224 picks off these patients
        picks = []  # (source path, name, how)
        for n in UNTOUCHED[cls]:
            picks.append((os.path.join(orig_dir, n), n, "copy"))
        rest = [n for n in originals if n not in UNTOUCHED[cls]]
        for n in rng.sample(rest, RESIZED):
            picks.append((os.path.join(orig_dir, n), n, "resize"))
        groups = group(n for n in os.listdir(small_dir) if patient(n) not in used_patients)
        multi = [p for p, v in groups.items() if 2 <= len(v) <= 4]
        single = [p for p, v in groups.items() if len(v) == 1]
        chosen = rng.sample(multi, 10 if cls == "PNEUMONIA" else 6)
        count = sum(len(groups[p]) for p in chosen)
        for p in rng.sample(single, len(single)):
            if count >= FROM_224:
                break
            chosen.append(p)
            count += 1
        for p in chosen:
            for n in groups[p]:
                picks.append((os.path.join(small_dir, n), n, "copy"))
        # Whole patients to one Kaggle folder.
        by_patient = group(n for _, n, _ in picks)
        src = {n: (s, how) for s, n, how in picks}
        pats = sorted(by_patient)
        rng.shuffle(pats)
        total = len(picks)
        filled = {f: 0 for f, _ in FOLDERS}
        for p in pats:
            folder = next((f for f, frac in FOLDERS if filled[f] < frac * total), "train")
            for n in by_patient[p]:
                s, how = src[n]
                dst = os.path.join(tree, folder, cls, n)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if how == "copy":
                    shutil.copyfile(s, dst)
                else:
                    with Image.open(s) as im:
                        w, h = im.size
                        im.resize((512, max(1, round(h * 512 / w))), Image.LANCZOS).save(dst, "JPEG", quality=90)
                filled[folder] += 1
        print(cls, total, filled)
    make_formats(os.path.join(out, "formats"), os.path.join(shared, "kermany-224", "train", "NORMAL"))
    make_bad(os.path.join(out, "bad"), os.path.join(tree, "train", "NORMAL"))


def make_formats(d, src_dir):
    os.makedirs(d)
    src = sorted(os.listdir(src_dir))[0]
    with Image.open(os.path.join(src_dir, src)) as im:
        gray = im.convert("L").crop((40, 30, 112, 78))  # 72 x 48, not symmetric
    rgb = Image.merge("RGB", (gray, gray.point(lambda v: v // 2), gray.point(lambda v: 255 - v)))
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        rgb.save(os.path.join(d, f"orientation-{o}.jpeg"), "JPEG", quality=95, exif=exif.tobytes())
    gray.save(os.path.join(d, "gray8.png"))
    a16 = (np.asarray(gray, np.uint16) * 257 + np.arange(48 * 72).reshape(48, 72).astype(np.uint16) % 251)
    Image.fromarray(a16.astype(np.uint16), mode="I;16").save(os.path.join(d, "gray16.png"))
    rgb.save(os.path.join(d, "rgb.png"))
    rgba = rgb.copy()
    rgba.putalpha(gray.point(lambda v: 255 if v > 100 else 128))
    rgba.save(os.path.join(d, "rgba.png"))
    la = gray.copy()
    la.putalpha(200)
    la.save(os.path.join(d, "gray-alpha.png"))
    rgb.convert("P", palette=Image.ADAPTIVE, colors=64).save(os.path.join(d, "paletted.png"))
    rgb.convert("CMYK").save(os.path.join(d, "cmyk.jpeg"), "JPEG", quality=95)
    gray.save(os.path.join(d, "gray.jpeg"), "JPEG", quality=95)
    rgb.save(os.path.join(d, "progressive.jpeg"), "JPEG", quality=90, progressive=True)
    rgb.save(os.path.join(d, "rgb-444.jpeg"), "JPEG", quality=95, subsampling=0)
    rgb.save(os.path.join(d, "rgb-420.jpeg"), "JPEG", quality=95, subsampling=2)
    rgb.crop((0, 0, 71, 47)).save(os.path.join(d, "rgb-420-odd.jpeg"), "JPEG", quality=95, subsampling=2)
    rgb.save(os.path.join(d, "rgb-422.jpeg"), "JPEG", quality=95, subsampling=1)


def make_bad(d, good_dir):
    os.makedirs(d)
    good = sorted(os.listdir(good_dir))[0]
    raw = open(os.path.join(good_dir, good), "rb").read()
    open(os.path.join(d, "truncated.jpeg"), "wb").write(raw[: len(raw) // 2])
    open(os.path.join(d, "empty.jpeg"), "wb").close()
    open(os.path.join(d, "notes.jpeg"), "w").write("not an image: a text file named .jpeg\n")
    with Image.open(os.path.join(good_dir, good)) as im:
        im.convert("L").resize((16, 16), Image.LANCZOS).save(os.path.join(d, "tiny-16x16.jpeg"), "JPEG", quality=90)


if __name__ == "__main__":
    main()
