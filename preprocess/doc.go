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
// DICOM is read by package preprocess/dicom (parsed by xray itself, compressed frames
// decoded by GDCM through internal/gdcm, no TensorFlow): its first frame becomes 8-bit
// gray by Preprocessor.Window (a dicom.Window: the file's own VOI LUT or window by
// default), then follows steps 4 and 5 like any gray JPEG. Its errors (dicom.ErrDamaged,
// dicom.ErrUnsupported, *dicom.TransferSyntaxError, *dicom.NoImageError) reach the
// callers of Config, Decode and the Preprocessor's methods as they are.
//
// Bad input returns an error, never panics. The first call for each input size starts a
// single-threaded TensorFlow session that lives as long as the process.
package preprocess
