// Package dataset turns a Kermany chest X-ray tree into a saved split (the manifest):
// ingest, the split schemes, the manifest file. Package dataset/loader turns a manifest's
// images into batches.
//
//	rep, err := dataset.MakeManifest(dataset.ManifestConfig{Data: dir, Out: "manifest.csv",
//		Split: dataset.DefaultSplitOptions(), Logger: logger}) // xray dataset split; skipped files are Warn records
//	m, err := dataset.ReadManifest("manifest.csv")
//	train, err := loader.New(m.Root, m.Subset(dataset.Train), loader.DefaultConfig())
//
// Classes are package labels' default vocabulary (0 = normal, 1 = pneumonia), from the
// folder names NORMAL and PNEUMONIA.
//
// # Ingest and the manifest
//
// Ingest reads a Kaggle tree (chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/, given as the
// folder holding chest_xray/, chest_xray/ itself or any folder with train/ test/ val/) or a
// plain {NORMAL,PNEUMONIA}/ folder, in any letter case. Hidden files, .DS_Store, ._* and
// __MACOSX are ignored. Each file is read once: its sha256, its header (format, size >=
// MinSide px a side) and its end marker (JPEG EOI, PNG IEND) are checked, which finds
// empty, non-image, truncated and too-small files at disk speed (IngestOptions.Verify
// decodes everything fully instead). Bad files
// are skipped and listed (SplitReport.Skipped, "skipped: 3 (see log)"); a missing class
// folder or one without usable images is an error naming it and the expected layout.
// Patients come from the file names (PatientID); a DICOM file's from the PatientID in
// its header, named dicom-patient-1, -2, ... in path order so that the manifest holds
// nothing derived from the ID.
//
// Split pools every image and assigns train, val or test, deterministically from the
// sorted paths and the seed (PCG-DXSM with our own shuffle, so Go releases cannot change
// it): the same tree and seed give the same manifest, byte for byte.
//
//   - Paper: per class, test = round(n*t/T) and validation = round(n*v/T) images drawn at
//     random, the rest train, where n is the class's image count and (T, t, v) the paper's
//     (1583, 345, 248) for normal and (4273, 815, 692) for pneumonia; halves round up. On
//     the full 5856 images that is exactly 345 + 815 test, 248 + 692 validation,
//     990 + 2766 training; on testdata's 79 + 82 it is 17 + 16 test, 12 + 13 validation.
//   - Stratified: per class, test = round(n*TestFraction), validation =
//     round((n-test)*ValFraction), the rest train.
//   - Patient: the same shares, filled with whole patients in seeded random order (a share
//     can overshoot by part of one patient's images); no patient is in two splits.
//   - Kaggle: the Kaggle tree's own folders. test/ is the test split; validation is
//     round(n*ValFraction) of the train/ and val/ folders pooled, per class, filled with
//     whole patients as in Patient; with ValFromFolder, val/ is validation and train/ is
//     train. A plain tree, or one without test/ images, is an error.
//
// PatientLeaks counts patients in more than one split; MakeManifest reports it for the
// chosen scheme and for Paper with the same seed.
//
// The manifest is a plain CSV, "path,label,split,patient,sha256,root,scheme,seed" (label
// as a class name, path relative to the data root, root relative to the manifest's
// folder and the same on every row), sorted by path; pandas.read_csv reads it unchanged.
// Manifests of the first format (comment lines for root, scheme and seed) are still
// read. Writes are atomic.
//
// docs/dataset.md has the measured speeds, cache sizes and leak counts on the Kermany data.
package dataset
