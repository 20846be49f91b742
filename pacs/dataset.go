package pacs

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// elems collects the elements of a dataset or sequence item being written; the first
// error sticks, so builders read as a list of add calls.
type elems struct {
	list []*dicom.Element
	err  error
}

// add appends tag t with value v: a string, []string, int, []int, []byte or a sequence
// ([]elems, one per item). An empty string is an empty (Type 2) element.
func (e *elems) add(t tag.Tag, v any) {
	if e.err != nil {
		return
	}
	var data any
	switch x := v.(type) {
	case string:
		data = []string{x}
		if x == "" {
			data = []string{}
		}
	case []string, []int, []byte:
		data = x
	case int:
		data = []int{x}
	case []elems:
		items := make([][]*dicom.Element, len(x))
		for i, it := range x {
			if it.err != nil {
				e.err = it.err
				return
			}
			items[i] = it.sorted()
		}
		data = items
	default:
		e.err = fmt.Errorf("dicom element %v: unsupported value %T", t, v)
		return
	}
	el, err := dicom.NewElement(t, data)
	if err != nil {
		e.err = fmt.Errorf("dicom element %v: %w", t, err)
		return
	}
	e.list = append(e.list, el)
}

// addElement appends an element as parsed from another file (copied modules).
func (e *elems) addElement(el *dicom.Element) { e.list = append(e.list, el) }

// item is one sequence item built by f.
func item(f func(*elems)) elems {
	var it elems
	f(&it)
	return it
}

// sorted returns the elements in ascending tag order, as a dataset must be written (the
// writer keeps the order it is given).
func (e *elems) sorted() []*dicom.Element {
	s := slices.Clone(e.list)
	slices.SortStableFunc(s, func(a, b *dicom.Element) int {
		if a.Tag.Group != b.Tag.Group {
			return int(a.Tag.Group) - int(b.Tag.Group)
		}
		return int(a.Tag.Element) - int(b.Tag.Element)
	})
	return s
}

// encode writes the elements as a DICOM Part 10 file in explicit VR little endian, with
// the file meta information for the SOP class and instance.
func (e *elems) encode(sopClass, sopInstance string) ([]byte, error) {
	meta := elems{}
	meta.add(tag.FileMetaInformationVersion, []byte{0, 1})
	meta.add(tag.MediaStorageSOPClassUID, sopClass)
	meta.add(tag.MediaStorageSOPInstanceUID, sopInstance)
	meta.add(tag.TransferSyntaxUID, explicitVRLittleEndian)
	meta.add(tag.ImplementationClassUID, implementationClassUID)
	meta.add(tag.ImplementationVersionName, "XRAY")
	if meta.err != nil {
		return nil, meta.err
	}
	if e.err != nil {
		return nil, e.err
	}
	ds := dicom.Dataset{Elements: append(meta.sorted(), e.sorted()...)}
	var buf bytes.Buffer
	// VR verification is skipped for Pixel Data written as OB (the dictionary says OW);
	// every other element comes from NewElement with the dictionary's VR.
	if err := dicom.Write(&buf, ds, dicom.SkipVRVerification()); err != nil {
		return nil, fmt.Errorf("write DICOM: %w", err)
	}
	return buf.Bytes(), nil
}

const explicitVRLittleEndian = "1.2.840.10008.1.2.1"

// implementationClassUID names xray as the writer of the files.
var implementationClassUID = derivedUID("xray implementation")
