"""pydicom's reference pixels for every file of its own test corpus (shipped in the wheel).

usage: dicom_corpus.py OUTDIR [DICOM...]

The corpus has no monochrome JPEG lossless file (the syntax CR/DX archives use most), so each
DICOM given is also compressed by dcmtk (Debian's dcmtk, another toolkit than the GDCM xray
decodes with) into OUTDIR: JPEG lossless SV1 (.70) and process 14 with predictor 6 (.57),
JPEG extended (.51), JPEG-LS lossless (.80) and RLE (.5), and joins the corpus.

For each file get_testdata_files("*") lists (and each made by dcmtk), pydicom (3.x, with pylibjpeg, pylibjpeg-libjpeg,
pylibjpeg-openjpeg and pylibjpeg-rle as its decoders) reads it with force=True and, where it
has pixel data, decodes frame 0 of pixel_array:

  monochrome  OUTDIR/<name>.bin: the stored values, int64 little endian, Rows x Columns
  colour      OUTDIR/<name>.bin: 8-bit RGB as pydicom returns it (YBR converted to RGB),
              made gray by PIL's Image.convert("L"), uint8

OUTDIR/index.json lists every file: name, path, transfer syntax, kind (mono, colour,
noimage, refused: pydicom could not read or decode it, with its reason), frames, SOP class.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
from PIL import Image
import pydicom
from pydicom.data import get_testdata_files

warnings.simplefilter("ignore")


def entry(path):
    e = {"name": os.path.basename(path), "path": path}
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as ex:  # noqa: BLE001 - the reason is the output
        return dict(e, kind="refused", reason=f"read: {type(ex).__name__}: {ex}"[:200])
    meta = getattr(ds, "file_meta", None)
    e["ts"] = str(getattr(meta, "TransferSyntaxUID", "") or "")
    e["sop_class"] = str(ds.get("SOPClassUID", "") or "")
    if "PixelData" not in ds:
        return dict(e, kind="noimage")
    try:
        e["frames"] = int(ds.get("NumberOfFrames", 1) or 1)
        e["photometric"] = str(ds.get("PhotometricInterpretation", ""))
        arr = ds.pixel_array
    except Exception as ex:  # noqa: BLE001
        return dict(e, kind="refused", reason=f"decode: {type(ex).__name__}: {ex}"[:200])
    spp = int(ds.get("SamplesPerPixel", 1))
    if e["frames"] > 1:
        arr = arr[0]
    out = os.path.join(sys.argv[1], e["name"] + ".bin")
    if spp == 1:
        arr.astype("<i8").tofile(out)
        return dict(e, kind="mono", rows=arr.shape[0], cols=arr.shape[1])
    if arr.dtype != np.uint8:
        return dict(e, kind="refused", reason=f"colour of {arr.dtype} (the gray reference is for 8-bit colour)")
    np.asarray(Image.fromarray(arr, "RGB").convert("L")).tofile(out)
    return dict(e, kind="colour", rows=arr.shape[0], cols=arr.shape[1])


DCMTK = {"sv1": ["dcmcjpeg", "+e1"], "p14": ["dcmcjpeg", "+el", "+sv", "6"],
         "ext": ["dcmcjpeg", "+ee"], "jls": ["dcmcjpls"], "rle": ["dcmcrle"]}


def dcmtk_files(outdir, sources):
    made = []
    for src in sources:
        stem = os.path.splitext(os.path.basename(src))[0]
        for kind, cmd in DCMTK.items():
            out = os.path.join(outdir, f"dcmtk_{stem}.{kind}.dcm")
            subprocess.run(cmd + [src, out], check=True, capture_output=True)
            made.append(out)
    return made


def main():
    files = [p for p in sorted(get_testdata_files("*")) if os.path.isfile(p)]
    files += dcmtk_files(sys.argv[1], sys.argv[2:])
    index = {"pydicom": pydicom.__version__, "files": [entry(p) for p in files]}
    with open(os.path.join(sys.argv[1], "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
