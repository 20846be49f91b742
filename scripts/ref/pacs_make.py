"""DICOM X-ray studies for the PACS tests and bench/pacs, made with pydicom from sample X-rays.

usage: pacs_make.py OUTDIR [--extras] [--per-study K] IMAGE...

Each IMAGE (a JPEG or PNG X-ray) becomes one DICOM instance, OUTDIR/<n>.dcm: Digital X-Ray
Image Storage, explicit VR little endian, MONOCHROME2, the image's Pillow-decoded gray
pixels (8 bits; every third image stored as 12 bits, value*16, with a window). Images are
grouped K to a study (default 2), one series per study; modality alternates DX, CR by
study; BodyPartExamined CHEST. StudyDate is 2024-01-01 plus the study's index in days.

With --extras, three more instances, each in a study of its own:
  hand     DX, BodyPartExamined HAND (a chest filter leaves it out)
  corrupt  DX CHEST whose PixelData holds half the bytes its Rows x Columns need
  huge     DX CHEST, 1024 x 1024 x 16 bits (2 MiB: over a small --max-instance-size)

Every instance carries the same made-up patient, PatientName Doe^Jane, PatientID
PACS-TEST-0042, PatientBirthDate 20150314, which xray must never print. UIDs are derived
from the file names (pydicom's generate_uid with entropy), so a rerun makes the same files.
OUTDIR/index.json lists {"file", "kind", "study", "series", "sop", "sop_class", "modality",
"study_date", "rows", "columns"} per instance and the patient's identifiers.
"""
import json
import os
import sys

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
CR = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
PATIENT = {"name": "Doe^Jane", "id": "PACS-TEST-0042", "birth_date": "20150314"}


def instance(study, series, seed, modality, date, body_part, number):
    sop_class = DX if modality == "DX" else CR
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["sop", seed])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = date, "101500", date, "101500"
    ds.AccessionNumber = "ACC" + date
    ds.Modality = modality
    ds.Manufacturer = "pydicom"
    ds.ReferringPhysicianName = "Ref^Doctor"
    ds.StudyDescription = "CHEST"
    ds.PatientName = PATIENT["name"]
    ds.PatientID = PATIENT["id"]
    ds.PatientBirthDate = PATIENT["birth_date"]
    ds.PatientSex = "F"
    ds.BodyPartExamined = body_part
    ds.ViewPosition = "PA"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.PatientOrientation = ["L", "F"]
    if modality == "DX":
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PixelIntensityRelationship = "LIN"
        ds.PixelIntensityRelationshipSign = 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        ds.BurnedInAnnotation = "NO"
        ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    return ds


def pixels(ds, g, twelve):
    ds.Rows, ds.Columns = g.shape
    if twelve:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.PixelData = (g.astype("<u2") * 16).tobytes()
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = g.astype(np.uint8).tobytes()


def main():
    args = sys.argv[1:]
    out = args.pop(0)
    extras = "--extras" in args
    args = [a for a in args if a != "--extras"]
    per = 2
    if "--per-study" in args:
        i = args.index("--per-study")
        per = int(args[i + 1])
        del args[i:i + 2]
    os.makedirs(out, exist_ok=True)
    index = {"patient": PATIENT, "instances": []}

    def save(ds, kind, name):
        path = os.path.join(out, name)
        ds.save_as(path, enforce_file_format=True)
        index["instances"].append({
            "file": path, "kind": kind, "study": ds.StudyInstanceUID, "series": ds.SeriesInstanceUID,
            "sop": ds.SOPInstanceUID, "sop_class": ds.SOPClassUID, "modality": ds.Modality,
            "study_date": ds.StudyDate, "rows": int(ds.Rows), "columns": int(ds.Columns)})

    nstudies = 0

    def new_study(tag):
        nonlocal nstudies
        nstudies += 1
        day = 1 + (nstudies - 1) % 28
        month = 1 + (nstudies - 1) // 28 % 12
        return (generate_uid(entropy_srcs=["study", tag]), generate_uid(entropy_srcs=["series", tag]),
                f"2024{month:02d}{day:02d}", "DX" if nstudies % 2 else "CR")

    for n, src in enumerate(args):
        if n % per == 0:
            study, series, date, modality = new_study(f"{n}:{os.path.basename(src)}")
        g = np.asarray(Image.open(src).convert("L"))
        ds = instance(study, series, f"{n}:{os.path.basename(src)}", modality, date, "CHEST", n % per + 1)
        pixels(ds, g, n % 3 == 2)
        save(ds, "chest", f"{n}.dcm")
    if extras:
        g = np.asarray(Image.open(args[0]).convert("L"))
        study, series, date, _ = new_study("hand")
        ds = instance(study, series, "hand", "DX", date, "HAND", 1)
        pixels(ds, g, False)
        save(ds, "hand", "hand.dcm")
        study, series, date, _ = new_study("corrupt")
        ds = instance(study, series, "corrupt", "DX", date, "CHEST", 1)
        pixels(ds, g, False)
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
        save(ds, "corrupt", "corrupt.dcm")
        study, series, date, _ = new_study("huge")
        ds = instance(study, series, "huge", "DX", date, "CHEST", 1)
        big = np.asarray(Image.fromarray(g).resize((1024, 1024), Image.BILINEAR))
        pixels(ds, big, True)
        save(ds, "huge", "huge.dcm")
    json.dump(index, open(os.path.join(out, "index.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
