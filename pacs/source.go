package pacs

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// ErrNotDICOM is matched by the error for a retrieved instance whose header does not parse.
var ErrNotDICOM = errors.New("not a readable DICOM instance")

// source is what the writers need of the image a result is about: its identity and the
// patient and study attributes copied into every result (PS3.3 C.7.1.1, C.7.2.1: a result
// belongs to the same patient and study).
type source struct {
	SOPClassUID, SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string
	copied                                                           []*dicom.Element // patient and study modules, as stored
}

// copiedTags are the Patient and General Study module attributes (with the character set
// their strings are in); Type 2 ones absent from the source are written empty.
var copiedTags = []struct {
	t     tag.Tag
	type2 bool
}{
	{tag.SpecificCharacterSet, false},
	{tag.StudyDate, true}, {tag.StudyTime, true}, {tag.AccessionNumber, true},
	{tag.ReferringPhysicianName, true}, {tag.StudyDescription, false},
	{tag.PatientName, true}, {tag.PatientID, true}, {tag.IssuerOfPatientID, false},
	{tag.PatientBirthDate, true}, {tag.PatientSex, true}, {tag.PatientAge, false},
	{tag.StudyInstanceUID, false}, {tag.StudyID, true},
}

// readSource parses the header of a DICOM Part 10 file (not its pixels).
func readSource(b []byte) (src source, err error) {
	defer func() {
		if r := recover(); r != nil { // the parser panics on some malformed input
			err = fmt.Errorf("%w: %v", ErrNotDICOM, r)
		}
	}()
	ds, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), nil, dicom.SkipPixelData())
	if err != nil {
		return src, fmt.Errorf("%w: %v", ErrNotDICOM, err)
	}
	str := func(t tag.Tag) string {
		el, err := ds.FindElementByTag(t)
		if err != nil || el.Value.ValueType() != dicom.Strings {
			return ""
		}
		if v := dicom.MustGetStrings(el.Value); len(v) > 0 {
			return trimDICOM(v[0])
		}
		return ""
	}
	src = source{SOPClassUID: str(tag.SOPClassUID), SOPInstanceUID: str(tag.SOPInstanceUID),
		StudyInstanceUID: str(tag.StudyInstanceUID), SeriesInstanceUID: str(tag.SeriesInstanceUID)}
	if src.SOPInstanceUID == "" || src.StudyInstanceUID == "" || src.SOPClassUID == "" {
		return src, fmt.Errorf("%w: no SOP Class, SOP Instance or Study Instance UID", ErrNotDICOM)
	}
	for _, c := range copiedTags {
		el, err := ds.FindElementByTag(c.t)
		switch {
		case err == nil && el.Value != nil && el.Value.ValueType() == dicom.Strings:
			src.copied = append(src.copied, &dicom.Element{Tag: el.Tag, RawValueRepresentation: el.RawValueRepresentation,
				ValueRepresentation: el.ValueRepresentation, Value: el.Value})
		case c.type2:
			empty, err := dicom.NewElement(c.t, []string{})
			if err != nil {
				return src, err
			}
			src.copied = append(src.copied, empty)
		}
	}
	return src, nil
}

func trimDICOM(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == 0) {
		s = s[:len(s)-1]
	}
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}
