// Package dataset turns a Kermany chest X-ray tree into what the models see: a saved split
// (the manifest), one preprocessing function, and a parallel batch loader.
//
// Classes: 0 = normal, 1 = pneumonia (ClassNames), from the folder names NORMAL and
// PNEUMONIA.
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
//  5. Resize to Size x Size, aspect ratio not kept, with disintegration/imaging's
//     Resize(img, Size, Size, imaging.Linear): a separable triangle filter of radius
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
package dataset
