// C interface to GDCM's image codecs, for gdcm.go.
#ifndef XRAY_GDCM_H
#define XRAY_GDCM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	const char *transfer_syntax; // UID
	const char *photometric;     // the header's PhotometricInterpretation
	int rows, columns, samples, bits_allocated, bits_stored, pixel_representation, planar;
} xray_gdcm_frame;

// Decodes one frame from its fragments into out (out_len bytes: rows*columns*samples*
// bits_allocated/8). Returns 0, or -1 with a message in err. *photometric_out receives the
// photometric interpretation of what was written (a JPEG YBR frame comes out as RGB).
int xray_gdcm_decode(const xray_gdcm_frame *f, const uint8_t *const *frags, const size_t *frag_lens,
                     int nfrags, uint8_t *out, size_t out_len, char *photometric_out, size_t pi_len,
                     char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
