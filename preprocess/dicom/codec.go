package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/xraylab/xray/internal/gdcm"
)

// frameBytes returns the first frame's samples as stored uncompressed (1-bit samples
// unpacked to one byte each) and the photometric interpretation they are in.
func frameBytes(f *dcmFile, info Info, d pixelDesc) ([]byte, string, error) {
	e := f.ds.elems[tag.PixelData]
	n := int64(info.Rows) * int64(info.Columns)
	if !e.encapsulated {
		return nativeFrame(e.value, info, d, n, f.ts == transferBigEndian && e.vr == "OW" && d.alloc == 8)
	}
	if d.alloc == 1 {
		return nil, "", fmt.Errorf("%w: compressed 1-bit pixel data", ErrUnsupported)
	}
	frags, err := firstFrameFragments(e.fragments, info.Frames)
	if err != nil {
		return nil, "", err
	}
	// The codec allocates what the stream's own header says: it must be the DICOM
	// header's size, which checkImage bounded.
	if err := checkFrameSize(frags[0], info); err != nil {
		return nil, "", err
	}
	pix, pi, err := gdcm.Decode(gdcm.Frame{TransferSyntax: f.ts, Photometric: info.Photometric,
		Rows: info.Rows, Columns: info.Columns, SamplesPerPixel: d.spp, BitsAllocated: d.alloc,
		BitsStored: d.stored, PixelRepresentation: d.rep, Planar: d.planar, Fragments: frags})
	if err != nil {
		return nil, "", fmt.Errorf("%w: pixel data: %v", ErrDamaged, err)
	}
	if pi == "YBR_FULL_422" { // GDCM upsamples: the samples are YBR_FULL
		pi = "YBR_FULL"
	}
	return pix, pi, nil
}

// firstFrameFragments picks the fragments of frame 0 (frags[0] is the basic offset table).
func firstFrameFragments(frags [][]byte, frames int) ([][]byte, error) {
	if len(frags) < 2 {
		return nil, fmt.Errorf("%w: no pixel data fragments", ErrDamaged)
	}
	bot, data := frags[0], frags[1:]
	switch {
	case frames == 1:
		return data, nil
	case len(data) == frames:
		return data[:1], nil
	case len(bot) >= 8:
		next := int(binary.LittleEndian.Uint32(bot[4:]))
		for i, off := 0, 0; i < len(data); i++ {
			if off += 8 + len(data[i]); off >= next {
				return data[:i+1], nil
			}
		}
	}
	// JPEG, JPEG-LS and JPEG 2000 streams all end with FF D9 (EOI, EOC).
	for i, d := range data {
		if bytes.HasSuffix(bytes.TrimRight(d, "\x00"), []byte{0xFF, 0xD9}) {
			return data[:i+1], nil
		}
	}
	return data, nil
}

// checkFrameSize reads the size a JPEG, JPEG-LS or JPEG 2000 stream declares (its SOF
// or SIZ marker) and refuses one that differs from the DICOM header's, before the codec
// allocates for it. RLE has no size of its own: GDCM decodes it into the header's.
func checkFrameSize(first []byte, info Info) error {
	w, h, ok := jpegSize(first)
	if !ok {
		w, h, ok = j2kSize(first)
	}
	if ok && (w != info.Columns || h != info.Rows) {
		return fmt.Errorf("%w: the compressed frame is %d x %d pixels, the header says %d x %d", ErrDamaged, w, h, info.Columns, info.Rows)
	}
	return nil
}

// jpegSize is the frame size in a JPEG or JPEG-LS stream's SOF marker.
func jpegSize(b []byte) (w, h int, ok bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, 0, false
	}
	for i := 2; i+9 <= len(b); {
		if b[i] != 0xFF {
			return 0, 0, false
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC, m == 0xF7: // SOFn, SOF55 (JPEG-LS)
			return int(binary.BigEndian.Uint16(b[i+7:])), int(binary.BigEndian.Uint16(b[i+5:])), true
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	return 0, 0, false
}

// j2kSize is the image size in a JPEG 2000 codestream's SIZ marker (SOC FF4F, SIZ FF51),
// bare or inside a JP2 file.
func j2kSize(b []byte) (w, h int, ok bool) {
	i := bytes.Index(b[:min(len(b), 4096)], []byte{0xFF, 0x4F, 0xFF, 0x51})
	if i < 0 || i+28 > len(b) {
		return 0, 0, false
	}
	u := func(at int) int { return int(binary.BigEndian.Uint32(b[i+at:])) }
	// Xsiz, Ysiz after SOC(2) SIZ(2) Lsiz(2) Rsiz(2); the image starts at XOsiz, YOsiz.
	return u(8) - u(16), u(12) - u(20), true
}
