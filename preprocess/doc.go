// Package preprocess is the pixel contract between training and serving: it turns an
// encoded JPEG, PNG or DICOM file into the Size x Size x 3 float32 values a network sees. Training,
// evaluation, prediction and serving all call it, and the SavedModel's serving_bytes
// signature mirrors it in-graph, so a model sees the same pixels wherever it runs.
//
//	p := preprocess.Preprocessor{Size: 224, Scaling: preprocess.ImageNet}
//	x, err := p.File("person1_virus_6.jpeg") // []float32, HWC, len p.Len()
//	img, err := preprocess.Decode(b)         // upright *image.Gray or *image.NRGBA
//	pix := p.Pixels(img)                     // resized uint8 HWC, before scaling
//
// The steps (Decode, then Preprocessor.Pixels, then Scaling.Apply):
//
//  1. Format from the magic bytes (JPEG FF D8 FF, PNG signature, DICOM's "DICM" after a
//     128-byte preamble), never the file name; anything else is ErrUnsupported, no bytes
//     ErrEmpty. Headers over MaxPixels are refused. DICOM goes to 8-bit gray first (below).
//  2. Decode with Go's image/jpeg (accurate integer IDCT, as libjpeg's ISLOW) or image/png.
//  3. To 8-bit RGB: gray is replicated; 16-bit samples keep their high byte; alpha is
//     dropped, not composited; palettes are expanded; CMYK/YCCK JPEGs go through
//     color.CMYKToRGB; 4:2:0 and 4:2:2 JPEG chroma is upsampled with libjpeg's "fancy"
//     triangle filter and converted with libjpeg's fixed-point YCbCr->RGB tables (other
//     subsamplings replicate chroma): what TensorFlow's DecodeJpeg/DecodePng do with
//     channels=3.
//  4. A JPEG's EXIF orientation (1..8) is applied, as PIL's ImageOps.exif_transpose.
//  5. Resize to Size x Size, aspect ratio not kept, exactly as disintegration/imaging's
//     Resize(img, Size, Size, imaging.Linear): a separable triangle filter, width pass
//     first, each pass rounded half up to uint8. Grayscale is resized as one channel.
//  6. Scale in float32: v/255 (Unit, the paper's [0, 1]) or v/127.5 - 1 (ImageNet,
//     Keras's "tf" mode, [-1, 1]).
//
// DICOM (DecodeDICOM; read with github.com/suyashkumar/dicom) becomes 8-bit gray, then
// follows steps 5 and 6 like any gray JPEG:
//
//	a. Transfer syntaxes: implicit and explicit VR little endian, explicit big endian, and
//	   JPEG baseline, whose frame is decoded by step 2's JPEG decoder. Others are a
//	   *TransferSyntaxError naming the syntax (it matches ErrDICOMUnsupported).
//	b. The first frame only (DICOMInfo.Warnings says so when there are more). Stored values
//	   are the low BitsStored bits, sign-extended when PixelRepresentation is 1.
//	c. Modality LUT: value*RescaleSlope + RescaleIntercept (a Modality LUT Sequence is
//	   ErrDICOMUnsupported).
//	d. VOI, by Preprocessor.Window: auto (the default) takes the first item of a VOI LUT
//	   Sequence, else the first WindowCenter/WindowWidth with the VOILUTFunction (LINEAR,
//	   LINEAR_EXACT, SIGMOID), else the full range BitsStored allows (8-bit images stay as
//	   they are); minmax stretches the image's own range; "C,W" is a LINEAR window. These
//	   are pydicom's apply_voi_lut and apply_windowing, mapped from their output range to
//	   0..255, rounded half up.
//	e. MONOCHROME1 is inverted (255 - v). Colour DICOM is refused, except a colour JPEG
//	   frame, used as decoded.
//
// A DICOM header is checked before the library parses it: no value may claim more bytes
// than the file holds, sequences nest at most 16 deep, and Rows*Columns stay under
// MaxPixels, so a small hostile file cannot make the reader allocate much more than its
// own size. ReadDICOMInfo gives the header's SOPInstanceUID and ViewPosition, never
// patient data.
//
// Bad input returns an error, never panics. The package is pure Go (no TensorFlow, no
// cgo). docs/preprocessing.md gives the in-graph mirror and the measured agreement with
// PIL and TensorFlow.
package preprocess
