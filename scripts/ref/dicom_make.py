"""DICOM test files made from sample X-rays, and pydicom's reference pixels for them.

usage: dicom_make.py OUTDIR WIDTH,HEIGHT SOURCE...

Each SOURCE image (a Kermany JPEG) is shrunk to WIDTH x HEIGHT gray with Pillow and saved as
OUTDIR/<k>.source.jpeg (Pillow JPEG, quality 95); its Pillow-decoded pixels g (uint8) are
then stored in one DICOM file per case, OUTDIR/<k>.<case>.dcm:

  mono2_8bit     explicit VR little endian, MONOCHROME2, 8 bits, no window (shows g)
  mono1_window   explicit VR LE, MONOCHROME1, 16 allocated / 12 stored, (255-g)*16,
                 WindowCenter 2048 / WindowWidth 4096 (shows ~g)
  rescale        implicit VR LE, signed 12-bit g*4-512, RescaleSlope 0.25 / Intercept 128,
                 window 128 / 256 (shows g)
  jpeg_baseline  JPEG baseline (1.2.840.10008.1.2.4.50): the source JPEG's bytes encapsulated
  big_endian     explicit VR big endian (retired), 16 bits g*257, no window (shows g)
  multiframe     explicit VR LE, 8 bits, 3 frames: g, 255-g, zeros (first frame shown)
  voi_lut        explicit VR LE, 12 bits g*16, a VOI LUT Sequence (4096 entries of 16 bits,
                 gamma 0.8)
  sigmoid        mono1_window's values, MONOCHROME2, VOILUTFunction SIGMOID, window 2048/1500

and OUTDIR/<k>.<case>.<mode>.bin: the reference 8-bit image (HxW uint8) for each window mode
(auto, minmax, fixed = LINEAR 1000,2000). The reference reads the file back with pydicom
(pixel_array; Pillow decodes the JPEG), applies apply_modality_lut, then for auto
apply_voi_lut (or, with neither LUT nor window, nothing), for minmax nothing, for fixed
apply_windowing with that window; maps the result from its range to 0..255 (for windows and
"nothing", pydicom's own output range: 0..2^BitsStored-1 or the signed range, through the
rescale; for minmax the image's min..max; for a VOI LUT 0..2^bits-1), rounds half up,
clips, and inverts MONOCHROME1 (255 - v). OUTDIR/index.json lists everything.
"""
import io
import json
import os
import sys

import numpy as np
from PIL import Image
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                         JPEGBaseline8Bit, generate_uid)

FIXED = (1000.0, 2000.0)
SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def base(rows, cols, ts, uid_seed):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[uid_seed])
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Test^Patient"  # must never be printed by xray
    ds.PatientID = "TEST-0001"
    ds.Modality = "DX"
    ds.ViewPosition = "PA"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    return ds


def native(ds, arr, bits_stored, big_endian=False):
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    a = arr.astype(arr.dtype.newbyteorder(">" if big_endian else "<"))
    ds.PixelData = a.tobytes()


def save(ds, path):
    ts = ds.file_meta.TransferSyntaxUID
    ds.save_as(path, implicit_vr=ts == ImplicitVRLittleEndian,
               little_endian=ts != ExplicitVRBigEndian, enforce_file_format=True)


def make_cases(g, jpeg_bytes, prefix):
    rows, cols = g.shape
    gi = g.astype(np.int32)
    cases = {}

    ds = base(rows, cols, ExplicitVRLittleEndian, prefix + "m2")
    native(ds, g, 8)
    cases["mono2_8bit"] = ds

    ds = base(rows, cols, ExplicitVRLittleEndian, prefix + "m1")
    ds.PhotometricInterpretation = "MONOCHROME1"
    native(ds, ((255 - gi) * 16).astype(np.uint16), 12)
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    cases["mono1_window"] = ds

    ds = base(rows, cols, ImplicitVRLittleEndian, prefix + "rs")
    ds.PixelRepresentation = 1
    native(ds, (gi * 4 - 512).astype(np.int16), 12)
    ds.RescaleSlope, ds.RescaleIntercept = 0.25, 128
    ds.WindowCenter, ds.WindowWidth = 128, 256
    cases["rescale"] = ds

    ds = base(rows, cols, JPEGBaseline8Bit, prefix + "jp")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([jpeg_bytes])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    cases["jpeg_baseline"] = ds

    ds = base(rows, cols, ExplicitVRBigEndian, prefix + "be")
    native(ds, (gi * 257).astype(np.uint16), 16, big_endian=True)
    cases["big_endian"] = ds

    ds = base(rows, cols, ExplicitVRLittleEndian, prefix + "mf")
    native(ds, np.stack([g, 255 - g, np.zeros_like(g)]), 8)
    ds.NumberOfFrames = 3
    cases["multiframe"] = ds

    ds = base(rows, cols, ExplicitVRLittleEndian, prefix + "lut")
    native(ds, (gi * 16).astype(np.uint16), 12)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = [int(round(65535 * (i / 4095) ** 0.8)) for i in range(4096)]
    item["LUTData"].VR = "US"
    ds.VOILUTSequence = [item]
    cases["voi_lut"] = ds

    ds = base(rows, cols, ExplicitVRLittleEndian, prefix + "sg")
    native(ds, ((255 - gi) * 16).astype(np.uint16), 12)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 2048, 1500, "SIGMOID"
    cases["sigmoid"] = ds
    return cases


def out_range(ds):
    """pydicom's apply_windowing output range: the stored range through the rescale."""
    bits = ds.BitsStored
    lo, hi = (0, 2**bits - 1) if ds.PixelRepresentation == 0 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        lo, hi = lo * float(ds.RescaleSlope) + float(ds.RescaleIntercept), hi * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return float(lo), float(hi)


def to8(v, lo, hi, mono1):
    f = np.zeros_like(v, dtype=np.float64) if hi == lo else (v.astype(np.float64) - lo) / (hi - lo)
    r = np.clip(np.floor(f * 255 + 0.5), 0, 255).astype(np.uint8)
    return 255 - r if mono1 else r


def reference(path):
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1)) > 1:
        arr = arr[0]
    mono1 = ds.PhotometricInterpretation == "MONOCHROME1"
    mod = apply_modality_lut(arr, ds)
    out = {}
    if "VOILUTSequence" in ds:
        bits = ds.VOILUTSequence[0].LUTDescriptor[2]
        out["auto"] = to8(apply_voi_lut(arr, ds), 0, 2**bits - 1, mono1)
    else:
        out["auto"] = to8(apply_voi_lut(mod.astype(np.float64), ds), *out_range(ds), mono1)
    out["minmax"] = to8(mod, float(mod.min()), float(mod.max()), mono1)
    fixed = ds.copy()
    for k in ("VOILUTSequence", "VOILUTFunction"):
        if k in fixed:
            del fixed[k]
    fixed.WindowCenter, fixed.WindowWidth = FIXED
    out["fixed"] = to8(apply_windowing(mod.astype(np.float64), fixed), *out_range(ds), mono1)
    return out


def main():
    out, size, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
    w, h = (int(v) for v in size.split(","))
    os.makedirs(out, exist_ok=True)
    index = {"fixed": list(FIXED), "sources": []}
    for k, src in enumerate(sources):
        img = Image.open(src).convert("L").resize((w, h), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        jpeg = buf.getvalue()
        jpath = os.path.join(out, f"{k}.source.jpeg")
        open(jpath, "wb").write(jpeg)
        g = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"))
        entry = {"source": jpath, "rows": h, "cols": w, "cases": []}
        for name, ds in make_cases(g, jpeg, f"{k}:{os.path.basename(src)}").items():
            path = os.path.join(out, f"{k}.{name}.dcm")
            save(ds, path)
            refs = reference(path)
            for mode, r in refs.items():
                assert r.shape == (h, w), (name, mode, r.shape)
                r.tofile(os.path.join(out, f"{k}.{name}.{mode}.bin"))
            entry["cases"].append({"name": name, "file": path, "sop_instance_uid": str(ds.SOPInstanceUID)})
        index["sources"].append(entry)
    json.dump(index, open(os.path.join(out, "index.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
