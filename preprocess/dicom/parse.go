package dicom

import (
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// xray parses DICOM itself, into element values that are slices of the file (never
// copies): a value may not claim more bytes than are left around it, sequences nest at
// most maxDICOMDepth deep and a file holds at most maxDICOMElements elements, so a small
// hostile file cannot make the reader allocate much more than its own size. It reads what
// pydicom reads: a private element of undefined length in an implicit VR file, or of VR UN
// in an explicit one, is a sequence of implicit VR little endian items (PS3.5 6.2.2).

const (
	maxDICOMDepth    = 16
	maxDICOMElements = 100000 // a radiograph has a few hundred; each costs ~200 bytes
	undefinedLen     = 0xFFFFFFFF
)

var (
	tagItem      = tag.Item
	tagItemDelim = tag.ItemDelimitationItem
	tagSeqDelim  = tag.SequenceDelimitationItem
)

// dcmElement is one element's value: bytes, sequence items, or pixel data fragments (the
// basic offset table first).
type dcmElement struct {
	vr           string
	value        []byte
	items        []*dcmDataset
	fragments    [][]byte
	encapsulated bool
}

// dcmDataset is a dataset's elements by tag, with the byte order their values are in.
type dcmDataset struct {
	bo    binary.ByteOrder
	elems map[tag.Tag]*dcmElement
}

// dcmReader is a cursor over encoded elements.
type dcmReader struct {
	b        []byte
	pos      int
	bo       binary.ByteOrder
	implicit bool
	elements *int // shared by the readers of one file
}

// header reads an element header: tag, VR (from the dictionary in implicit VR, "UN" for
// tags it does not know) and length.
func (r *dcmReader) header(end int) (t tag.Tag, vr string, vl uint32, err error) {
	need := func(n int) error {
		if r.pos+n > end {
			return fmt.Errorf("%w: element header cut off at byte %d (truncated file)", ErrDamaged, r.pos)
		}
		return nil
	}
	if err := need(8); err != nil {
		return t, "", 0, err
	}
	t = tag.Tag{Group: r.bo.Uint16(r.b[r.pos:]), Element: r.bo.Uint16(r.b[r.pos+2:])}
	if r.implicit || t.Group == 0xFFFE {
		vr = "UN"
		if info, err := tag.Find(t); err == nil && t.Group != 0xFFFE {
			vr = info.VR
		}
		vl = r.bo.Uint32(r.b[r.pos+4:])
		r.pos += 8
		return t, vr, vl, nil
	}
	vr = string(r.b[r.pos+4 : r.pos+6])
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		if err := need(12); err != nil {
			return t, "", 0, err
		}
		vl = r.bo.Uint32(r.b[r.pos+8:])
		r.pos += 12
	default:
		if vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z' {
			return t, "", 0, fmt.Errorf("%w: element %v at byte %d: %q is not a value representation", ErrDamaged, t, r.pos, vr)
		}
		vl = uint32(r.bo.Uint16(r.b[r.pos+6:]))
		r.pos += 8
	}
	return t, vr, vl, nil
}

// dataset reads elements up to end, or up to an item delimiter when delimited.
func (r *dcmReader) dataset(end, depth int, delimited bool) (*dcmDataset, error) {
	ds := &dcmDataset{bo: r.bo, elems: map[tag.Tag]*dcmElement{}}
	for r.pos < end {
		at := r.pos
		t, vr, vl, err := r.header(end)
		if err != nil {
			return ds, err
		}
		if delimited && t == tagItemDelim {
			return ds, nil
		}
		if *r.elements++; *r.elements > maxDICOMElements {
			return ds, fmt.Errorf("%w: more than %d elements", ErrDamaged, maxDICOMElements)
		}
		e, err := r.value(end, depth, t, vr, vl, at)
		if err != nil {
			return ds, err
		}
		if _, dup := ds.elems[t]; !dup {
			ds.elems[t] = e
		}
	}
	if delimited {
		return ds, fmt.Errorf("%w: an item of undefined length without its end (truncated file)", ErrDamaged)
	}
	return ds, nil
}

// value reads the value of an element whose header ended at r.pos.
func (r *dcmReader) value(end, depth int, t tag.Tag, vr string, vl uint32, at int) (*dcmElement, error) {
	e := &dcmElement{vr: vr}
	var err error
	switch {
	case t == tag.PixelData && vl == undefinedLen:
		e.encapsulated = true
		e.fragments, err = r.fragments(end)
	case vr == "SQ":
		e.items, err = r.sequence(end, depth, vl)
	case vl == undefinedLen && vr == "UN":
		// PS3.5 6.2.2: an undefined-length UN is a sequence in implicit VR little endian.
		sub := *r
		sub.implicit, sub.bo = true, binary.LittleEndian
		e.vr = "SQ"
		e.items, err = sub.sequence(end, depth, vl)
		r.pos = sub.pos
	case vl == undefinedLen:
		return nil, fmt.Errorf("%w: element %v at byte %d has an undefined length where a value must have one", ErrDamaged, t, at)
	case int64(vl) > int64(end-r.pos):
		return nil, fmt.Errorf("%w: element %v at byte %d claims %d bytes, %d are left (truncated or damaged file)", ErrDamaged, t, at, vl, end-r.pos)
	default:
		e.value = r.b[r.pos : r.pos+int(vl)]
		r.pos += int(vl)
	}
	return e, err
}

// sequence reads the items of a sequence: vl bytes, or up to its delimiter.
func (r *dcmReader) sequence(end, depth int, vl uint32) ([]*dcmDataset, error) {
	if depth >= maxDICOMDepth {
		return nil, fmt.Errorf("%w: sequences nested deeper than %d at byte %d", ErrDamaged, maxDICOMDepth, r.pos)
	}
	if vl != undefinedLen {
		if int64(vl) > int64(end-r.pos) {
			return nil, fmt.Errorf("%w: sequence of %d bytes at byte %d runs past its end (truncated file)", ErrDamaged, vl, r.pos)
		}
		end = r.pos + int(vl)
	}
	var items []*dcmDataset
	for r.pos < end {
		at := r.pos
		t, _, ivl, err := r.header(end)
		if err != nil {
			return items, err
		}
		switch {
		case t == tagSeqDelim:
			return items, nil
		case t != tagItem:
			return items, fmt.Errorf("%w: %v instead of a sequence item at byte %d", ErrDamaged, t, at)
		case ivl == undefinedLen:
			item, err := r.dataset(end, depth+1, true)
			if err != nil {
				return items, err
			}
			items = append(items, item)
		case int64(ivl) > int64(end-r.pos):
			return items, fmt.Errorf("%w: item of %d bytes at byte %d runs past its end (truncated file)", ErrDamaged, ivl, at)
		default:
			itemEnd := r.pos + int(ivl)
			item, err := r.dataset(itemEnd, depth+1, false)
			if err != nil {
				return items, err
			}
			items = append(items, item)
		}
	}
	if vl == undefinedLen {
		return items, fmt.Errorf("%w: a sequence of undefined length without its end (truncated file)", ErrDamaged)
	}
	return items, nil
}

// fragments reads encapsulated pixel data: items of defined length up to the sequence
// delimiter.
func (r *dcmReader) fragments(end int) ([][]byte, error) {
	var frags [][]byte
	for r.pos+8 <= end {
		at := r.pos
		t := tag.Tag{Group: r.bo.Uint16(r.b[r.pos:]), Element: r.bo.Uint16(r.b[r.pos+2:])}
		vl := r.bo.Uint32(r.b[r.pos+4:])
		r.pos += 8
		switch {
		case t == tagSeqDelim:
			return frags, nil
		case t != tagItem:
			return nil, fmt.Errorf("%w: %v instead of a pixel data fragment at byte %d", ErrDamaged, t, at)
		case int64(vl) > int64(end-r.pos):
			return nil, fmt.Errorf("%w: pixel data fragment at byte %d claims %d bytes, %d are left (truncated or damaged file)", ErrDamaged, at, vl, end-r.pos)
		}
		if *r.elements++; *r.elements > maxDICOMElements {
			return nil, fmt.Errorf("%w: more than %d elements", ErrDamaged, maxDICOMElements)
		}
		frags = append(frags, r.b[r.pos:r.pos+int(vl)])
		r.pos += int(vl)
	}
	return nil, fmt.Errorf("%w: encapsulated pixel data without its end (truncated file)", ErrDamaged)
}
