"""Reads back what `xray pacs` stored in a PACS, as a DICOMweb client of its own would.

usage: pacs_check.py URL USER PASSWORD OUTDIR

With dicomweb-client, searches every study (QIDO-RS) for SR and OT instances, retrieves
them (WADO-RS) and writes each to OUTDIR/<SOPInstanceUID>.dcm (for dsrdump and dcmdump).
Each SR is parsed with highdicom (ComprehensiveSR.from_dataset, ContentSequence
.from_sequence); each Secondary Capture's pixels are decoded with pydicom. Prints one JSON
object:

  {"srs": [{"sop", "series", "study", "sop_class", "patient_name", "patient_id",
            "patient_birth_date", "series_description", "modality",
            "evidence": [[sop_class, sop]], "findings": [{"code": [value, scheme, meaning],
            "probability", "source": [sop_class, sop]}], "impression": [value, scheme, meaning],
            "threshold", "algorithm": {"name", "version", "parameters"},
            "observer_type": [...], "device_uid", "uid_ok", "codes_known": bool}],
   "overlays": [{"sop", "series", "study", "sop_class", "image_type", "burned_in",
                 "conversion_type", "source": [sop_class, sop], "shape", "photometric",
                 "patient_id", "uid_ok", "colour_pixels"}],
   "sr_per_source": {sop: n}, "overlay_per_source": {sop: n}}

uid_ok: the instance's UID is 2.25.<uuid5(namespace, kind NUL source SOP NUL digest)>, the
derivation docs/pacs.md describes, recomputed here with Python's uuid from the digest in
the SR's Algorithm Parameters. codes_known: every DCM, SCT and LN code in the tree has
the meaning pydicom's code dictionary gives it.
"""
import json
import os
import sys
import uuid

import highdicom as hd
import numpy as np
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass
from pydicom.sr.codedict import codes

NAMESPACE = uuid.UUID("6c0f5a36-1d2e-4c41-9d3f-8f1b2a7e55c4")


def derived(*parts):
    return "2.25." + str(uuid.uuid5(NAMESPACE, "\x00".join(parts)).int)


def code_tuple(c):
    return [c.value, c.scheme_designator, c.meaning]


KNOWN = {}
for scheme in ("DCM", "SCT", "LN", "UCUM"):
    coll = getattr(codes, scheme)
    for name in coll.dir():
        c = getattr(coll, name)
        KNOWN.setdefault((scheme, c.value), set()).add(c.meaning.lower())
# pydicom's dictionary lacks some SNOMED disorders; these are checked by value only.
EXTRA = {("SCT", "233604007"), ("SCT", "53084003"), ("SCT", "75570004")}


def known(c):
    if c.scheme_designator == "99XRAY" or (c.scheme_designator, c.value) in EXTRA:
        return True
    return c.meaning.lower() in KNOWN.get((c.scheme_designator, c.value), set())


def walk(items, out):
    for it in items:
        out.append(it)
        walk(getattr(it, "ContentSequence", []) or [], out)


def sr_summary(ds):
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    tree = hd.sr.ContentSequence.from_sequence(sr.ContentSequence, is_root=False)
    flat = []
    walk(tree, flat)
    names = [it.name for it in flat]
    ok_codes = all(known(n) for n in names) and all(
        known(it.value) for it in flat if isinstance(it, hd.sr.CodeContentItem))
    root_ok = known(hd.sr.CodedConcept.from_dataset(ds.ConceptNameCodeSequence[0]))
    by = lambda meaning: [it for it in flat if it.name.meaning == meaning]
    findings = []
    for f in by("Finding"):
        kids = list(f.ContentSequence)
        prob = [k for k in kids if k.name.meaning == "Probability"][0]
        src = [k for k in kids if k.name.meaning == "Source of Measurement"][0]
        findings.append({"code": code_tuple(f.value), "probability": float(prob.value),
                         "unit": code_tuple(prob.unit), "source": list(src.value)})
    imp = by("Impression")[0]
    thr = [k for k in getattr(imp, "ContentSequence", []) or [] if k.name.meaning == "Threshold Value"]
    text = lambda m: by(m)[0].value
    params = text("Algorithm Parameters")
    digest = params.split("sha256:")[1].split(";")[0]
    evidence = [[r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID]
                for st in ds.CurrentRequestedProcedureEvidenceSequence
                for se in st.ReferencedSeriesSequence for r in se.ReferencedSOPSequence]
    src_sop = findings[0]["source"][1]
    return {
        "sop": ds.SOPInstanceUID, "series": ds.SeriesInstanceUID, "study": ds.StudyInstanceUID,
        "sop_class": ds.SOPClassUID, "modality": ds.Modality, "series_description": ds.SeriesDescription,
        "patient_name": str(ds.PatientName), "patient_id": ds.PatientID,
        "patient_birth_date": ds.PatientBirthDate, "evidence": evidence, "findings": findings,
        "impression": code_tuple(imp.value), "threshold": float(thr[0].value) if thr else None,
        "algorithm": {"name": text("Algorithm Name"), "version": text("Algorithm Version"), "parameters": params},
        "observer_type": code_tuple(by("Observer Type")[0].value), "device_uid": by("Device Observer UID")[0].value,
        "completion": ds.CompletionFlag, "verification": ds.VerificationFlag,
        "uid_ok": ds.SOPInstanceUID == derived("sr", src_sop, digest),
        "codes_known": bool(ok_codes and root_ok), "digest": digest,
    }


def overlay_summary(ds, digest_of):
    src = ds.SourceImageSequence[0]
    px = ds.pixel_array
    d = digest_of.get(src.ReferencedSOPInstanceUID)
    return {
        "sop": ds.SOPInstanceUID, "series": ds.SeriesInstanceUID, "study": ds.StudyInstanceUID,
        "sop_class": ds.SOPClassUID, "image_type": list(ds.ImageType), "burned_in": ds.BurnedInAnnotation,
        "conversion_type": ds.ConversionType, "modality": ds.Modality, "patient_id": ds.PatientID,
        "source": [src.ReferencedSOPClassUID, src.ReferencedSOPInstanceUID],
        "shape": list(px.shape), "photometric": ds.PhotometricInterpretation,
        "colour_pixels": int(np.sum(np.ptp(px.reshape(-1, 3).astype(int), axis=1) > 30)),
        "uid_ok": d is not None and ds.SOPInstanceUID == derived("overlay", src.ReferencedSOPInstanceUID, d),
    }


def main():
    url, user, password, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    client = DICOMwebClient(url, session=create_session_from_user_pass(user, password))
    srs, ovs = [], []
    for st in client.search_for_studies():
        study = st["0020000D"]["Value"][0]
        for modality, dest in (("SR", srs), ("OT", ovs)):
            for inst in client.search_for_instances(study_instance_uid=study, search_filters={"Modality": modality}):
                series = inst["0020000E"]["Value"][0]
                sop = inst["00080018"]["Value"][0]
                ds = client.retrieve_instance(study, series, sop)
                ds.save_as(os.path.join(out, sop + ".dcm"), enforce_file_format=True)
                dest.append(ds)
    sr_out = [sr_summary(ds) for ds in srs]
    digest_of = {s["findings"][0]["source"][1]: s["digest"] for s in sr_out}
    ov_out = [overlay_summary(ds, digest_of) for ds in ovs]
    count = lambda items, key: {k: sum(1 for i in items if key(i) == k) for k in {key(i) for i in items}}
    json.dump({"srs": sr_out, "overlays": ov_out,
               "sr_per_source": count(sr_out, lambda s: s["findings"][0]["source"][1]),
               "overlay_per_source": count(ov_out, lambda o: o["source"][1])}, sys.stdout)


if __name__ == "__main__":
    main()
