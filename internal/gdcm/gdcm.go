package gdcm

/*
#cgo CXXFLAGS: -std=c++14 -I/usr/include/gdcm-3.0
#cgo LDFLAGS: -lgdcmMSFF -lgdcmDSED -lgdcmCommon -lstdc++
#include <stdlib.h>
#include "gdcm.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// ErrDecode: GDCM could not decode the frame (damaged or truncated data, or data that does
// not match its description).
var ErrDecode = errors.New("GDCM could not decode the DICOM frame")

// Frame describes one encapsulated frame as the DICOM header does.
type Frame struct {
	TransferSyntax      string   // UID, e.g. 1.2.840.10008.1.2.4.70
	Photometric         string   // the header's PhotometricInterpretation
	Rows, Columns       int      // pixels
	SamplesPerPixel     int      // 1 or 3
	BitsAllocated       int      // 8, 16 (or 32 for RLE)
	BitsStored          int      // 1..BitsAllocated
	PixelRepresentation int      // 0 unsigned, 1 signed
	Planar              int      // PlanarConfiguration: 0 interleaved, 1 by plane
	Fragments           [][]byte // the frame's fragments, in order, without the offset table
}

// Len is the size in bytes of the decoded frame.
func (f Frame) Len() int64 {
	return int64(f.Rows) * int64(f.Columns) * int64(f.SamplesPerPixel) * int64(f.BitsAllocated/8)
}

// Decode decodes f. The result holds f.Len() bytes: samples of BitsAllocated bits, little
// endian, as they would be stored uncompressed (colour samples interleaved when Planar is
// 0), and the photometric interpretation they are in, which GDCM changes where the codec
// converts colour (a JPEG YBR_FULL_422 frame comes out as RGB).
func Decode(f Frame) (pix []byte, photometric string, err error) {
	if f.Rows <= 0 || f.Columns <= 0 || f.SamplesPerPixel <= 0 || f.BitsAllocated%8 != 0 ||
		f.BitsAllocated <= 0 || f.BitsStored <= 0 || f.BitsStored > f.BitsAllocated || len(f.Fragments) == 0 {
		return nil, "", fmt.Errorf("%w: frame %+v", ErrDecode, describe(f))
	}
	n := f.Len()
	out := make([]byte, n)
	ts, pi := C.CString(f.TransferSyntax), C.CString(f.Photometric)
	defer C.free(unsafe.Pointer(ts))
	defer C.free(unsafe.Pointer(pi))
	cf := C.xray_gdcm_frame{transfer_syntax: ts, photometric: pi,
		rows: C.int(f.Rows), columns: C.int(f.Columns), samples: C.int(f.SamplesPerPixel),
		bits_allocated: C.int(f.BitsAllocated), bits_stored: C.int(f.BitsStored),
		pixel_representation: C.int(f.PixelRepresentation), planar: C.int(f.Planar)}
	// The fragment pointers live in C memory: cgo forbids Go memory holding Go pointers.
	k := len(f.Fragments)
	ptrs := (*[1 << 28]*C.uint8_t)(C.malloc(C.size_t(k) * C.size_t(unsafe.Sizeof(uintptr(0)))))[:k:k]
	lens := (*[1 << 28]C.size_t)(C.malloc(C.size_t(k) * C.size_t(unsafe.Sizeof(C.size_t(0)))))[:k:k]
	defer C.free(unsafe.Pointer(&ptrs[0]))
	defer C.free(unsafe.Pointer(&lens[0]))
	var pinner runtime.Pinner
	defer pinner.Unpin()
	for i, fr := range f.Fragments {
		ptrs[i] = nil
		if len(fr) > 0 {
			pinner.Pin(&fr[0])
			ptrs[i] = (*C.uint8_t)(unsafe.Pointer(&fr[0]))
		}
		lens[i] = C.size_t(len(fr))
	}
	var piOut [32]C.char
	var msg [256]C.char
	rc := C.xray_gdcm_decode(&cf, &ptrs[0], &lens[0], C.int(k), (*C.uint8_t)(unsafe.Pointer(&out[0])), C.size_t(n),
		&piOut[0], C.size_t(len(piOut)), &msg[0], C.size_t(len(msg)))
	if rc != 0 {
		return nil, "", fmt.Errorf("%w: %s", ErrDecode, C.GoString(&msg[0]))
	}
	return out, C.GoString(&piOut[0]), nil
}

func describe(f Frame) string {
	return fmt.Sprintf("%s, %s, %d x %d, %d samples, %d/%d bits, %d fragments", f.TransferSyntax, f.Photometric,
		f.Columns, f.Rows, f.SamplesPerPixel, f.BitsStored, f.BitsAllocated, len(f.Fragments))
}
