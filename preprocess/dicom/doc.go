// Package dicom reads DICOM files for package preprocess: it parses them itself, decodes
// compressed frames through internal/gdcm, and turns the first frame into the 8-bit gray
// image preprocess resizes like any gray JPEG. It knows nothing of TensorFlow or models.
//
//	if dicom.Is(b) {
//		img, info, err := dicom.Decode(b, dicom.Window{}) // *image.Gray, header
//		info, err = dicom.ReadInfo(b)                     // the header alone
//	}
//
// What it reads, in order:
//
//	a. Files: Part 10 (preamble and "DICM"), or a bare dataset without them, read as
//	   pydicom's force=True does. Transfer syntaxes: implicit and explicit VR little
//	   endian, explicit big endian, deflated explicit little endian, RLE lossless, JPEG
//	   baseline and extended (12 bit), JPEG lossless (process 14 and SV1), JPEG-LS
//	   (lossless and near-lossless), JPEG 2000 (lossless and lossy).
//	b. The first frame only (Info.Warnings says so when there are more). Stored values
//	   are the low BitsStored bits, sign-extended when PixelRepresentation is 1; 1, 8, 16
//	   and 32 bits allocated.
//	c. Modality LUT: value*RescaleSlope + RescaleIntercept.
//	d. VOI, by the Window: auto (the default) takes the first item of a VOI LUT
//	   Sequence, else the first WindowCenter/WindowWidth with the VOILUTFunction (LINEAR,
//	   LINEAR_EXACT, SIGMOID), else the full range BitsStored allows (8-bit images stay as
//	   they are; for more bits Info.Warnings says so); minmax stretches the image's
//	   own range; "C,W" is a LINEAR window. These are pydicom's apply_voi_lut and
//	   apply_windowing, mapped from their output range to 0..255, rounded half up.
//	e. MONOCHROME1 is inverted (255 - v). Colour (8-bit RGB, YBR_FULL, YBR_FULL_422,
//	   YBR_RCT, YBR_ICT; uncompressed or compressed alike) becomes gray by one rule: to RGB
//	   by the header's photometric interpretation (a JPEG frame labelled RGB is never
//	   converted from YCbCr; YCbCr as libjpeg converts it, internal/jpegcolor), then luma
//	   as PIL's convert("L"); no window.
//
// What it refuses, with errors matched by errors.Is and errors.As:
//
//   - bytes that are not DICOM: ErrNotDICOM;
//   - a damaged file (truncated, lengths past the end, no pixel data in an image, absurd
//     sizes, a frame the codec cannot decode, a window it cannot apply): ErrDamaged;
//   - a valid file it cannot make gray: ErrUnsupported. Among them another transfer
//     syntax is a *TransferSyntaxError naming it, a file without pixel data and without
//     an image pixel module (an SR, an RT plan) a *NoImageError naming its SOP class;
//     palette colour, 16/32-bit colour, a Modality LUT Sequence and an unknown
//     VOILUTFunction wrap ErrUnsupported with the reason.
//
// The parser never copies a value: none may claim more bytes than the file holds,
// sequences nest at most 16 deep, a file holds at most 100,000 elements, a deflated
// dataset inflates to at most 256 MiB, and Rows*Columns stay under MaxPixels (checked
// against a compressed frame's own header before its codec runs), so a small hostile
// file cannot make the reader allocate much more than its own size. Bad input returns an
// error, never panics. Info holds the header's SOPInstanceUID and ViewPosition, never
// patient data; PatientHash gives only a hash of the PatientID.
package dicom
