// Package gdcm decodes compressed DICOM frames with GDCM (Grassroots DICOM, Debian's
// libgdcm-dev) through cgo: JPEG baseline and extended (8 and 12 bit), JPEG lossless
// (processes 14 and 14 SV1, 8 to 16 bit), JPEG-LS (lossless and near-lossless, through
// CharLS), JPEG 2000 (lossless and lossy, through OpenJPEG) and RLE Lossless.
//
// It knows nothing of DICOM files: the caller parses the header and hands Decode one
// frame's fragments with the header's description of them; Decode returns the samples as
// they would be stored uncompressed. The header's photometric interpretation goes to the
// codec, so a JPEG frame labelled RGB is not converted from YCbCr whatever its markers say.
//
//	pix, pi, err := gdcm.Decode(gdcm.Frame{TransferSyntax: "1.2.840.10008.1.2.4.70",
//		Photometric: "MONOCHROME2", Rows: r, Columns: c, SamplesPerPixel: 1,
//		BitsAllocated: 16, BitsStored: 12, Fragments: frags})
//
// Errors wrap ErrDecode. GDCM's messages (its trace stream, where its libjpeg and OpenJPEG
// report too) are sent nowhere: a library does not print.
package gdcm
