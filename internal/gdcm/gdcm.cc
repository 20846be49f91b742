// GDCM's codecs behind a C function: a gdcm::Image is built from the frame's description
// and fragments, and GetBuffer runs the codec its transfer syntax names.
#include "gdcm.h"

#include <cstring>
#include <exception>
#include <ostream>
#include <string>

#include <gdcmDataElement.h>
#include <gdcmFragment.h>
#include <gdcmImage.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

// nullStream swallows GDCM's trace output.
static std::ostream &nullStream() {
	static std::ostream os(nullptr);
	return os;
}

static int fail(char *err, size_t err_len, const std::string &msg) {
	std::snprintf(err, err_len, "%s", msg.c_str());
	return -1;
}

extern "C" int xray_gdcm_decode(const xray_gdcm_frame *f, const uint8_t *const *frags,
                                const size_t *frag_lens, int nfrags, uint8_t *out, size_t out_len,
                                char *photometric_out, size_t pi_len, char *err, size_t err_len) {
	try {
		// A library does not print: GDCM's messages (and those of the libjpeg and OpenJPEG
		// it carries) go to its trace stream, sent nowhere once (a thread-safe static).
		static const bool quiet = [] {
			gdcm::Trace::SetDebug(false);
			gdcm::Trace::SetWarning(false);
			gdcm::Trace::SetError(false);
			gdcm::Trace::SetStream(nullStream());
			return true;
		}();
		(void)quiet;
		gdcm::TransferSyntax ts = gdcm::TransferSyntax::GetTSType(f->transfer_syntax);
		if (ts == gdcm::TransferSyntax::TS_END) {
			return fail(err, err_len, std::string("GDCM does not know transfer syntax ") + f->transfer_syntax);
		}
		gdcm::PhotometricInterpretation pi = gdcm::PhotometricInterpretation::GetPIType(f->photometric);
		if (pi == gdcm::PhotometricInterpretation::UNKNOWN || pi == gdcm::PhotometricInterpretation::PI_END) {
			return fail(err, err_len, std::string("GDCM does not know photometric interpretation ") + f->photometric);
		}
		gdcm::Image img;
		img.SetNumberOfDimensions(2);
		img.SetDimension(0, (unsigned int)f->columns);
		img.SetDimension(1, (unsigned int)f->rows);
		img.SetPixelFormat(gdcm::PixelFormat((unsigned short)f->samples, (unsigned short)f->bits_allocated,
		                                     (unsigned short)f->bits_stored, (unsigned short)(f->bits_stored - 1),
		                                     (unsigned short)f->pixel_representation));
		img.SetPhotometricInterpretation(pi);
		img.SetPlanarConfiguration((unsigned int)f->planar);
		img.SetTransferSyntax(ts);
		gdcm::SmartPointer<gdcm::SequenceOfFragments> sq = new gdcm::SequenceOfFragments;
		for (int i = 0; i < nfrags; i++) {
			gdcm::Fragment frag;
			frag.SetByteValue((const char *)frags[i], (uint32_t)frag_lens[i]);
			sq->AddFragment(frag);
		}
		gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
		pixels.SetVR(gdcm::VR::OB);
		pixels.SetValue(*sq);
		img.SetDataElement(pixels);
		if (img.GetBufferLength() != out_len) {
			return fail(err, err_len, "GDCM computes a frame of " + std::to_string(img.GetBufferLength()) +
			                              " bytes, the header " + std::to_string(out_len));
		}
		if (!img.GetBuffer((char *)out)) {
			return fail(err, err_len, std::string("GDCM could not decode the ") + ts.GetString() + " frame");
		}
		std::snprintf(photometric_out, pi_len, "%s", img.GetPhotometricInterpretation().GetString());
		return 0;
	} catch (const std::exception &e) {
		return fail(err, err_len, std::string("GDCM: ") + e.what());
	} catch (...) {
		return fail(err, err_len, "GDCM failed");
	}
}
