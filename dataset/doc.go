// Package dataset turns a Kermany chest X-ray tree into what the models see: a saved split
// (the manifest), one preprocessing function, and a parallel batch loader.
//
//	rep, err := dataset.MakeManifest(dataset.ManifestConfig{Data: dir, Out: "manifest.csv",
//		Split: dataset.DefaultSplitOptions()})               // xray dataset split
//	m, err := dataset.ReadManifest("manifest.csv")
//	cfg := dataset.DefaultLoaderConfig()                      // 256 px, [0, 1], batch 20
//	train, err := dataset.NewLoader(m.Root, m.Subset(dataset.Train), cfg)
//	for b, err := range train.Epoch(ctx, epoch) { ... b.Images, b.OneHot ... }
//	x, err := dataset.DefaultPreprocessor().File("some.jpeg") // prediction, serving
//
// Classes: 0 = normal, 1 = pneumonia (ClassNames), from the folder names NORMAL and
// PNEUMONIA.
//
// # Ingest and the manifest
//
// Ingest reads a Kaggle tree (chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/, given as the
// folder holding chest_xray/, chest_xray/ itself or any folder with train/ test/ val/) or a
// plain {NORMAL,PNEUMONIA}/ folder, in any letter case. Hidden files, .DS_Store, ._* and
// __MACOSX are ignored. Each file is read once: its sha256, its header (format, size >=
// MinSide px a side) and its end marker (JPEG EOI, PNG IEND) are checked, which finds
// empty, non-image, truncated and too-small files at disk speed (the 5216 224-px files in
// under a second; IngestOptions.Verify decodes everything fully instead, ~14 s). Bad files
// are skipped and listed (SplitReport.Skipped, "skipped: 3 (see log)"); a missing class
// folder or one without usable images is an error naming it and the expected layout.
// Patients come from the file names (PatientID).
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
// chosen scheme and for Paper with the same seed (on the 5216 images of the Kaggle train
// folder, 722 of 2846 patients leak under Paper with seed 42).
//
// The manifest is CSV, "path,label,split,patient,sha256" (label as a class name, path
// relative to the data root), sorted by path, after "# root:", "# scheme:" and "# seed:"
// comment lines; root is relative to the manifest's folder. Writes are atomic.
//
// # Preprocessing
//
// Preprocessor is the only preprocessing in Go; training, evaluation, prediction and
// serving all call it, and the SavedModel's serving_bytes signature mirrors it in-graph.
// Step by step (Decode, then Preprocessor.Pixels, then Scaling.Apply):
//
//  1. Format from the magic bytes (JPEG FF D8 FF, PNG signature), never the file name;
//     anything else is ErrUnsupported. Headers over MaxPixels are refused.
//  2. Decode with Go's image/jpeg (accurate integer IDCT, as libjpeg's ISLOW) or image/png.
//  3. To 8-bit RGB: gray is replicated; 16-bit samples keep their high byte; alpha is
//     dropped, not composited; palettes are expanded; CMYK/YCCK JPEGs go through
//     color.CMYKToRGB; 4:2:0 and 4:2:2 JPEG chroma is upsampled with libjpeg's "fancy"
//     triangle filter and converted with libjpeg's fixed-point YCbCr->RGB tables (other
//     subsamplings replicate chroma). This is what TensorFlow's DecodeJpeg/DecodePng do
//     with channels=3.
//  4. A JPEG's EXIF orientation (1..8) is applied. TensorFlow's decoders ignore EXIF, so the
//     in-graph path cannot; every Kermany file has orientation 1 or none.
//  5. Resize to Size x Size, aspect ratio not kept, exactly as disintegration/imaging's
//     Resize(img, Size, Size, imaging.Linear) (our copy of its algorithm for 1 and 3
//     channels is bit-identical, TestResizeMatchesImaging, and 3x faster on grayscale,
//     which is resized as one channel): a separable triangle filter of radius
//     max(in/out, 1) source pixels (antialiased when shrinking, plain bilinear when
//     enlarging), sample centres at (i+0.5)*in/out - 0.5, weights normalised per output
//     pixel (taps outside the image dropped). The width pass runs first and its result is
//     rounded to uint8 (floor(x+0.5), clamped to 0..255); then the height pass, rounded
//     the same way. These uint8 HWC pixels are what the loader caches.
//  6. Scale in float32: v/255 (Unit, the paper's [0, 1]) or v/127.5 - 1 (ImageNet, Keras's
//     "tf" mode, [-1, 1]).
//
// The in-graph mirror (scripts/ref/dataset_preprocess.py, go_mirror): DecodeJpeg(bytes,
// channels=3, dct_method="INTEGER_ACCURATE") (it decodes PNG too; the default
// INTEGER_FAST IDCT is off by up to 6 levels), Cast to float32, add a batch axis;
// ScaleAndTranslate(size=[H, S], scale=[1, S/W], translation=[0, 0], kernel_type="triangle",
// antialias=true); Floor(ClipByValue(x, 0, 255) + 0.5003); ScaleAndTranslate(size=[S, S],
// scale=[S/H, 1], same attributes); the same rounding; then RealDiv by 255 (or by 127.5,
// then Sub 1). A pass at scale 1 is an exact identity, so both passes always run. The 3e-4
// in the rounding compensates TensorFlow's float32 sampling positions (1/scale is inexact),
// which put many of imaging's exact halves a hair below .5.
//
// Measured agreement (tests: TestPreprocessMatchesPILAndTensorFlow, TestDecodeFormats, on
// testdata's originals from 445 x 140 to 1296 x 848, 512-px re-encodes and 224 x 224 files,
// at 256 and 128 px), in 0..255 units per value; "resize" feeds the reference decoder's
// pixels to our resize, isolating it:
//
//	resize vs the graph mirror            max 1, on <= 0.5 % of values (seen 0.13 %)
//	resize vs PIL resize(BILINEAR)        max 1, on <= 3 % of values (seen 1.7 %, 224->128)
//	resize vs tf.image.resize(bilinear,
//	  antialias=True), float, unrounded   mean <= 0.35 (seen 0.30), max <= 1.25 (seen 1.0)
//	decode+resize vs DecodeJpeg(ISLOW)
//	  + graph mirror                      mean <= 0.1 (seen 0.02), max 2 (seen 1)
//	decode+resize vs PIL open+resize      mean <= 0.05 (seen 0.02), max 1
//	decode, colour JPEG vs libjpeg        mean <= 0.1 (seen 0.05), max 3; PNG exact
//
// So after Unit scaling Go and the graph differ by at most 2/255 on any value and far less
// on average; a plain tf.image.resize(antialias=True) without the rounding stays within
// 1.25/255.
//
// # Loader
//
// A Loader decodes with LoaderConfig.Workers goroutines, keeps at most Prefetch batches
// ready ahead of the consumer, and yields Batch values (NHWC float32 images, labels,
// one-hot labels, paths) in order. With Shuffle it visits EpochOrder(n, Seed, epoch), a
// function of those three numbers only, so a run resumed at epoch k reproduces the
// batches; without, the manifest's order. Decoded, resized uint8 pixels are cached in
// memory up to CacheBytes (default min(4 GiB, half the available memory); all 5856 images
// at 256 px take 1.15 GB), so only the first epoch decodes. Each file's sha256 is checked
// against the manifest when it is read. Augment (flip, shift, brightness; off by default
// as in the paper) is drawn from (Seed, epoch, image). Epoch stops cleanly on break or
// context cancellation; no goroutine outlives the loop.
//
// bench/loader compares the loader's images per second with a tf.data pipeline doing the
// same work in Python on the same machine.
package dataset
