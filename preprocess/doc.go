// Package preprocess is the pixel contract between training and serving: it turns an
// encoded JPEG, PNG or DICOM file into the Size x Size x 3 float32 values a network sees.
// It has one definition, a small TensorFlow graph (Preprocessor.GraphDef) that this
// package runs in-process for training, evaluation and Go prediction, and that a
// SavedModel's serving_bytes signature embeds, so a model sees the same bits wherever it
// runs.
//
//	p := preprocess.Preprocessor{Size: 224, Scaling: preprocess.ImageNet}
//	x, err := p.File("person1_virus_6.jpeg") // []float32, HWC, len p.Len()
//	pix, err := p.EncodedPixels(b)           // resized uint8 HWC, before scaling
//	img, err := preprocess.Decode(b)         // upright *image.Gray or *image.NRGBA
//	pix, err = p.Pixels(img)                 // the same bits as EncodedPixels(b)
//
// The steps (GraphDef's doc has the ops):
//
//  1. Format from the magic bytes (JPEG FF D8 FF, PNG signature, DICOM's "DICM" after a
//     128-byte preamble or a dataset's first element of group 0002 or 0008), never the
//     file name; anything else is ErrUnsupported, no bytes
//     ErrEmpty. Headers over MaxPixels are refused. DICOM goes to 8-bit gray in Go first
//     (below) and joins the graph after its decoder.
//  2. Decode with TensorFlow's DecodeJpeg: libjpeg-turbo with the accurate integer IDCT
//     (ISLOW) and fancy upsampling, or libpng. Gray stays one channel (16-bit samples keep
//     their high byte), alpha is dropped, not composited, CMYK is converted by TensorFlow.
//  3. A JPEG's EXIF orientation (1..8) is undone, as PIL's ImageOps.exif_transpose.
//  4. Resize to Size x Size, aspect ratio not kept: tf.image.resize(bilinear,
//     antialias=True), a separable triangle filter widened when shrinking, rounded half
//     up to whole 0..255 values.
//  5. Gray is repeated to RGB; then Scaling in float32: v/255 (Unit, the paper's [0, 1])
//     or v/127.5 - 1 (ImageNet, Keras's "tf" mode, [-1, 1]).
//
// Agreement (tests in this package and savedmodels): EncodedPixels, Pixels of Decode's
// image, the loader, PredictBytes and serving_bytes are bit-identical to each other and
// to the same recipe written independently in Python TensorFlow, on every testdata image
// and format; serving_bytes alone cannot read EXIF and leaves rotated files as stored.
// Pixels of an image decoded elsewhere (Go's image/jpeg) is within 3 levels (mean under
// 0.1); PIL open + resize(BILINEAR) within 1 level (mean under 0.2); see
// docs/preprocessing.md.
//
// DICOM (DecodeDICOM; parsed by xray itself, compressed frames decoded by GDCM through
// internal/gdcm) becomes 8-bit gray, then follows steps 4 and 5 like any gray JPEG:
//
//	a. Files: Part 10 (preamble and "DICM"), or a bare dataset without them, read as
//	   pydicom's force=True does. Transfer syntaxes: implicit and explicit VR little
//	   endian, explicit big endian, deflated explicit little endian, RLE lossless, JPEG
//	   baseline and extended (12 bit), JPEG lossless (process 14 and SV1), JPEG-LS
//	   (lossless and near-lossless), JPEG 2000 (lossless and lossy). Others are a
//	   *TransferSyntaxError naming the syntax. A file without pixel data and without an
//	   image pixel module (an SR, an RT plan) is a *NoImageError naming its SOP class;
//	   both match ErrDICOMUnsupported.
//	b. The first frame only (DICOMInfo.Warnings says so when there are more). Stored values
//	   are the low BitsStored bits, sign-extended when PixelRepresentation is 1; 1, 8, 16
//	   and 32 bits allocated.
//	c. Modality LUT: value*RescaleSlope + RescaleIntercept (a Modality LUT Sequence is
//	   ErrDICOMUnsupported).
//	d. VOI, by Preprocessor.Window: auto (the default) takes the first item of a VOI LUT
//	   Sequence, else the first WindowCenter/WindowWidth with the VOILUTFunction (LINEAR,
//	   LINEAR_EXACT, SIGMOID), else the full range BitsStored allows (8-bit images stay as
//	   they are; for more bits DICOMInfo.Warnings says so); minmax stretches the image's
//	   own range; "C,W" is a LINEAR window. These are pydicom's apply_voi_lut and
//	   apply_windowing, mapped from their output range to 0..255, rounded half up.
//	e. MONOCHROME1 is inverted (255 - v). Colour (8-bit RGB, YBR_FULL, YBR_FULL_422,
//	   YBR_RCT, YBR_ICT; uncompressed or compressed alike) becomes gray by one rule: to RGB
//	   by the header's photometric interpretation (a JPEG frame labelled RGB is never
//	   converted from YCbCr), then luma as PIL's convert("L"); no window. Palette colour is
//	   ErrDICOMUnsupported.
//
// The parser never copies a value: none may claim more bytes than the file holds,
// sequences nest at most 16 deep, a file holds at most 100,000 elements, a deflated
// dataset inflates to at most 256 MiB, and Rows*Columns stay under MaxPixels, so a small
// hostile file cannot make the reader allocate much more than its own size.
// ReadDICOMInfo gives the header's SOPInstanceUID and ViewPosition, never patient data.
//
// Bad input returns an error, never panics. The first call for each input size starts a
// single-threaded TensorFlow session that lives as long as the process.
package preprocess
