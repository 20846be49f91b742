package preprocess

import (
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The DICOM library (suyashkumar/dicom v1.0.7) allocates each element's value from the
// length in its header before reading it (make([]byte, length), up to 4 GiB), and
// recurses once per nested sequence. guardDICOM walks the element headers exactly as the
// library will read them and refuses, before the library runs, any value longer than the
// bytes left around it, an undefined length where the library would allocate it, and
// nesting deeper than maxDICOMDepth: the library then never allocates more than the file
// holds. It reads no values except the transfer syntax, which it returns.

const (
	maxDICOMDepth    = 16
	maxDICOMElements = 100000 // a radiograph has a few hundred; each costs the library ~100 bytes
	undefinedLen     = 0xFFFFFFFF
)

var (
	tagItem      = tag.Item
	tagItemDelim = tag.ItemDelimitationItem
	tagSeqDelim  = tag.SequenceDelimitationItem
)

// dicomWalker is a cursor over a Part 10 file with the byte order and VR encoding the
// library will use.
type dicomWalker struct {
	b        []byte
	pos      int
	bo       binary.ByteOrder
	implicit bool
	elements int
}

// guardDICOM checks the structure of a Part 10 file (b starts with the 128-byte preamble
// and "DICM") and returns its transfer syntax UID ("" when the meta group has none: the
// library then reads implicit little endian).
func guardDICOM(b []byte) (ts string, err error) {
	w := &dicomWalker{b: b, pos: 132, bo: binary.LittleEndian}
	// The meta group is explicit little endian and starts with its length, as the library
	// requires.
	t, vr, vl, err := w.header(len(b))
	if err != nil {
		return "", err
	}
	if t != tag.FileMetaInformationGroupLength || vr != "UL" || vl != 4 || w.pos+4 > len(b) {
		return "", fmt.Errorf("%w: no file meta group length (0002,0000) after the DICM preamble", ErrDICOM)
	}
	metaLen := int64(binary.LittleEndian.Uint32(b[w.pos:]))
	w.pos += 4
	if metaLen > int64(len(b)-w.pos) {
		return "", fmt.Errorf("%w: file meta group of %d bytes in a file of %d", ErrDICOM, metaLen, len(b))
	}
	end := w.pos + int(metaLen)
	for w.pos < end {
		start := w.pos
		t, err := w.element(end, 0)
		if err != nil {
			return "", err
		}
		if t == tag.TransferSyntaxUID && start+8 <= w.pos { // explicit VR UI: an 8-byte header
			ts = trimDICOMString(string(b[start+8 : w.pos]))
		}
	}
	if err := checkTransferSyntax(ts); err != nil {
		return ts, err
	}
	switch ts {
	case "", transferImplicitLE:
		w.implicit = true
	case transferBigEndian:
		w.bo = binary.BigEndian
	}
	for w.pos < len(b) {
		if _, err := w.element(len(b), 0); err != nil {
			return ts, err
		}
	}
	return ts, nil
}

// header reads an element header as the library's readTag, readVR and readVL do.
func (w *dicomWalker) header(end int) (t tag.Tag, vr string, vl uint32, err error) {
	need := func(n int) error {
		if w.pos+n > end {
			return fmt.Errorf("%w: element header cut off at byte %d", ErrDICOM, w.pos)
		}
		return nil
	}
	if err := need(4); err != nil {
		return t, "", 0, err
	}
	t = tag.Tag{Group: w.bo.Uint16(w.b[w.pos:]), Element: w.bo.Uint16(w.b[w.pos+2:])}
	w.pos += 4
	if w.implicit || t == tagItem {
		vr = tag.UnknownVR
		if info, err := tag.Find(t); err == nil {
			vr = info.VR
		}
		if err := need(4); err != nil {
			return t, "", 0, err
		}
		vl = w.bo.Uint32(w.b[w.pos:])
		w.pos += 4
		return t, vr, vl, nil
	}
	if err := need(4); err != nil {
		return t, "", 0, err
	}
	vr = string(w.b[w.pos : w.pos+2])
	w.pos += 2
	switch vr {
	case "NA", "OB", "OD", "OF", "OL", "OW", "SQ", "UN", "UC", "UR", "UT":
		if err := need(6); err != nil {
			return t, "", 0, err
		}
		vl = w.bo.Uint32(w.b[w.pos+2:])
		w.pos += 6
	default:
		vl = uint32(w.bo.Uint16(w.b[w.pos:]))
		w.pos += 2
		if vl == 0xFFFF {
			vl = undefinedLen
		}
	}
	return t, vr, vl, nil
}

// element checks one element (and what it nests) that must end by end, and moves past it.
func (w *dicomWalker) element(end, depth int) (tag.Tag, error) {
	at := w.pos
	t, vr, vl, err := w.header(end)
	if err != nil {
		return t, err
	}
	if w.elements++; w.elements > maxDICOMElements {
		return t, fmt.Errorf("%w: more than %d elements", ErrDICOM, maxDICOMElements)
	}
	switch kind := tag.GetVRKind(t, vr); {
	case kind == tag.VRSequence || kind == tag.VRItem:
		if depth >= maxDICOMDepth {
			return t, fmt.Errorf("%w: sequences nested deeper than %d at byte %d", ErrDICOM, maxDICOMDepth, at)
		}
		stop := tagSeqDelim
		if kind == tag.VRItem {
			stop = tagItemDelim
		}
		return t, w.nested(end, depth+1, vl, stop)
	case kind == tag.VRPixelData && vl == undefinedLen:
		return t, w.fragments(end)
	}
	if vr == "OW" && vl%2 != 0 { // the library reads OW as 16-bit words
		return t, fmt.Errorf("%w: element %v at byte %d: OW value of odd length %d", ErrDICOM, t, at, vl)
	}
	return t, w.skip(end, vl, t, at)
}

// nested checks the elements of a sequence or item: vl bytes, or up to the stop tag.
func (w *dicomWalker) nested(end, depth int, vl uint32, stop tag.Tag) error {
	if vl != undefinedLen {
		if int64(vl) > int64(end-w.pos) {
			return fmt.Errorf("%w: sequence of %d bytes at byte %d runs past its end", ErrDICOM, vl, w.pos)
		}
		end = w.pos + int(vl)
		for w.pos < end {
			if _, err := w.element(end, depth); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		t, err := w.element(end, depth)
		if err != nil || t == stop {
			return err
		}
	}
}

// fragments checks encapsulated pixel data: items of defined length up to the sequence
// delimiter, as the library's readRawItem reads them.
func (w *dicomWalker) fragments(end int) error {
	for w.pos < end {
		at := w.pos
		if w.pos+8 > end {
			return fmt.Errorf("%w: pixel data fragment header cut off at byte %d", ErrDICOM, w.pos)
		}
		t := tag.Tag{Group: w.bo.Uint16(w.b[w.pos:]), Element: w.bo.Uint16(w.b[w.pos+2:])}
		vl := w.bo.Uint32(w.b[w.pos+4:])
		w.pos += 8
		switch t {
		case tagSeqDelim:
			return nil
		case tagItem:
			if err := w.skip(end, vl, t, at); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %v instead of a pixel data fragment at byte %d", ErrDICOM, t, at)
		}
	}
	return fmt.Errorf("%w: encapsulated pixel data without its end (sequence delimiter)", ErrDICOM)
}

// skip moves past a value of vl bytes, which must fit before end.
func (w *dicomWalker) skip(end int, vl uint32, t tag.Tag, at int) error {
	if vl == undefinedLen {
		return fmt.Errorf("%w: element %v at byte %d has an undefined length where a value must have one", ErrDICOM, t, at)
	}
	if int64(vl) > int64(end-w.pos) {
		return fmt.Errorf("%w: element %v at byte %d claims %d bytes, %d are left (truncated or damaged file)", ErrDICOM, t, at, vl, end-w.pos)
	}
	w.pos += int(vl)
	return nil
}
