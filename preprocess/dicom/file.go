package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// maxInflated bounds a deflated dataset's size once inflated (a deflate bomb is ~1000:1).
const maxInflated = 256 << 20

// dcmFile is a parsed DICOM file: its dataset and transfer syntax ("" when it names none
// and the dataset is implicit VR little endian).
type dcmFile struct {
	ds *dcmDataset
	ts string
}

// dicomStart returns where a file's meta group or dataset starts: after "DICM" for a Part
// 10 file, 0 for a bare dataset (no preamble), which pydicom reads with force=True; -1
// when b is not DICOM.
func dicomStart(b []byte) int {
	if len(b) >= 132 && string(b[128:132]) == "DICM" {
		return 132
	}
	if len(b) < 8 {
		return -1
	}
	// A bare dataset starts with an element of group 0002 (meta) or 0008 (identification),
	// in little or big endian.
	le, be := binary.LittleEndian.Uint16(b), binary.BigEndian.Uint16(b)
	if le == 0x0002 || le == 0x0008 || be == 0x0008 {
		return 0
	}
	return -1
}

// parseDICOMFile parses a Part 10 file or a bare dataset.
func parseDICOMFile(b []byte) (*dcmFile, error) {
	start := dicomStart(b)
	if start < 0 {
		return nil, fmt.Errorf("%w: no DICM marker at byte 128 and no DICOM dataset at byte 0", ErrNotDICOM)
	}
	n := 0
	r := &dcmReader{b: b, pos: start, bo: binary.LittleEndian, elements: &n}
	ts, err := r.meta()
	if err != nil {
		return nil, err
	}
	if err := checkTransferSyntax(ts); err != nil {
		return &dcmFile{ts: ts}, err
	}
	switch ts {
	case transferBigEndian:
		r.bo = binary.BigEndian
	case transferDeflated:
		inflated, err := inflate(b[r.pos:])
		if err != nil {
			return &dcmFile{ts: ts}, err
		}
		r.b, r.pos = inflated, 0
	default:
		// Some writers label an implicit VR dataset explicit: pydicom reads the encoding
		// from the first element, and so does xray.
		r.implicit, r.bo = guessEncoding(b[r.pos:])
	}
	ds, err := r.dataset(len(r.b), 0, false)
	return &dcmFile{ds: ds, ts: ts}, err
}

// meta reads the file meta group (explicit VR little endian, group 0002) and returns its
// transfer syntax. Its group length is checked but not relied on.
func (r *dcmReader) meta() (string, error) {
	meta, ts := &dcmDataset{bo: binary.LittleEndian, elems: map[tag.Tag]*dcmElement{}}, ""
	for r.pos+8 <= len(r.b) && binary.LittleEndian.Uint16(r.b[r.pos:]) == 0x0002 {
		at := r.pos
		t, vr, vl, err := r.header(len(r.b))
		if err != nil {
			return "", err
		}
		e, err := r.value(len(r.b), 0, t, vr, vl, at)
		if err != nil {
			return "", err
		}
		meta.elems[t] = e
		if t == tag.FileMetaInformationGroupLength && len(e.value) == 4 {
			if n := int64(binary.LittleEndian.Uint32(e.value)); n > int64(len(r.b)-r.pos) {
				return "", fmt.Errorf("%w: file meta group of %d bytes in a file of %d", ErrDamaged, n, len(r.b))
			}
		}
		if t == tag.TransferSyntaxUID {
			ts = meta.str(t)
		}
	}
	return ts, nil
}

// guessEncoding decides how a dataset without a transfer syntax is encoded, as pydicom
// does: explicit VR when its first element has two capital letters where a VR would be,
// big endian when its first group reads 0008 that way.
func guessEncoding(b []byte) (implicit bool, bo binary.ByteOrder) {
	bo = binary.LittleEndian
	if len(b) >= 2 && binary.BigEndian.Uint16(b) == 0x0008 {
		bo = binary.BigEndian
	}
	explicit := len(b) >= 6 && b[4] >= 'A' && b[4] <= 'Z' && b[5] >= 'A' && b[5] <= 'Z'
	return !explicit, bo
}

// inflate undoes Deflated Explicit VR Little Endian (RFC 1951 without a zlib header).
func inflate(b []byte) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b)), maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("%w: deflated dataset: %v", ErrDamaged, err)
	}
	if len(out) > maxInflated {
		return nil, fmt.Errorf("%w: deflated dataset inflates past %d MiB", ErrDamaged, maxInflated>>20)
	}
	return out, nil
}

// trimDICOMString drops the padding DICOM puts after strings (space or NUL).
func trimDICOMString(s string) string { return strings.Trim(s, " \x00") }

// str is an element's first string value, "" when absent.
func (ds *dcmDataset) str(t tag.Tag) string {
	e := ds.elems[t]
	if e == nil {
		return ""
	}
	s, _, _ := strings.Cut(string(e.value), `\`)
	return trimDICOMString(s)
}

// has reports an element present, with or without a value.
func (ds *dcmDataset) has(t tag.Tag) bool { return ds.elems[t] != nil }

// ints are an element's integer values (US, SS, UL, SL, or IS text).
func (ds *dcmDataset) ints(t tag.Tag) []int {
	e := ds.elems[t]
	if e == nil {
		return nil
	}
	var out []int
	v := e.value
	switch e.vr {
	case "US", "OW", "xs", "US or SS":
		for i := 0; i+2 <= len(v); i += 2 {
			out = append(out, int(ds.bo.Uint16(v[i:])))
		}
	case "SS":
		for i := 0; i+2 <= len(v); i += 2 {
			out = append(out, int(int16(ds.bo.Uint16(v[i:]))))
		}
	case "UL":
		for i := 0; i+4 <= len(v); i += 4 {
			out = append(out, int(ds.bo.Uint32(v[i:])))
		}
	case "SL":
		for i := 0; i+4 <= len(v); i += 4 {
			out = append(out, int(int32(ds.bo.Uint32(v[i:]))))
		}
	case "IS":
		for _, s := range strings.Split(string(v), `\`) {
			n, err := strconv.Atoi(trimDICOMString(s))
			if err != nil {
				return out
			}
			out = append(out, n)
		}
	}
	return out
}

// integer is an element's first integer value.
func (ds *dcmDataset) integer(t tag.Tag) (int, bool) {
	if v := ds.ints(t); len(v) > 0 {
		return v[0], true
	}
	return 0, false
}

// float is an element's first decimal value (DS, FL or FD).
func (ds *dcmDataset) float(t tag.Tag) (float64, bool) {
	e := ds.elems[t]
	if e == nil {
		return 0, false
	}
	switch {
	case e.vr == "FD" && len(e.value) >= 8:
		return math.Float64frombits(ds.bo.Uint64(e.value)), true
	case e.vr == "FL" && len(e.value) >= 4:
		return float64(math.Float32frombits(ds.bo.Uint32(e.value))), true
	}
	f, err := strconv.ParseFloat(ds.str(t), 64)
	return f, err == nil
}
