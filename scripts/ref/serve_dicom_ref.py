"""A DICOM upload for the serve page's test, and pydicom's picture of it.

usage: serve_dicom_ref.py OUTDIR SOURCE.dcm

Writes OUTDIR/upload.dcm: SOURCE with a made-up PatientBirthDate added (its PatientName and
PatientID are made up already), so the test can check that none of the three reaches the
page or the answers; and OUTDIR/upload.auto.bin, the 8-bit picture pydicom makes of it under
the file's own window (dicom_make.reference's "auto": apply_modality_lut, apply_voi_lut,
mapped to 0..255, MONOCHROME1 inverted), rows x cols uint8; OUTDIR/index.json gives
rows, cols and the three patient values.
"""
import json
import os
import sys

import pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dicom_make import reference  # noqa: E402

BIRTH_DATE = "19510704"


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    ds = pydicom.dcmread(src)
    ds.PatientBirthDate = BIRTH_DATE
    path = os.path.join(out, "upload.dcm")
    ds.save_as(path, enforce_file_format=True)
    ref = reference(path)["auto"]
    ref.tofile(os.path.join(out, "upload.auto.bin"))
    json.dump({"rows": int(ref.shape[0]), "cols": int(ref.shape[1]),
               "patient": [str(ds.PatientName), str(ds.PatientID), BIRTH_DATE]},
              open(os.path.join(out, "index.json"), "w"))


if __name__ == "__main__":
    main()
