package preprocess

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// Errors for DICOM files, besides ErrEmpty and ErrUnsupported.
var (
	// ErrDICOM: the file says it is DICOM but is damaged (truncated, lengths that run past
	// the end, no pixel data, a header that claims absurd sizes).
	ErrDICOM = errors.New("damaged DICOM file")
	// ErrDICOMUnsupported: a valid DICOM file xray cannot turn into a gray image (a
	// compressed transfer syntax other than JPEG baseline, colour or 32-bit pixels, a
	// modality LUT sequence). A *TransferSyntaxError matches it too.
	ErrDICOMUnsupported = errors.New("unsupported DICOM file")
)

// TransferSyntaxError names a transfer syntax xray does not decode. It matches
// ErrDICOMUnsupported with errors.Is.
type TransferSyntaxError struct {
	UID  string // e.g. 1.2.840.10008.1.2.4.90
	Name string // e.g. JPEG 2000 Image Compression (Lossless Only); "" when unknown
}

func (e *TransferSyntaxError) Error() string {
	name := e.Name
	if name == "" {
		name = "unknown transfer syntax"
	}
	return fmt.Sprintf("DICOM transfer syntax %s (%s) is not supported: xray reads implicit/explicit little endian, explicit big endian and JPEG baseline; convert the file, e.g. gdcmconv --raw or dcmdjpeg", name, e.UID)
}

// Unwrap makes the error match ErrDICOMUnsupported.
func (e *TransferSyntaxError) Unwrap() error { return ErrDICOMUnsupported }

// Transfer syntaxes xray decodes.
const (
	transferImplicitLE   = "1.2.840.10008.1.2"
	transferExplicitLE   = "1.2.840.10008.1.2.1"
	transferBigEndian    = "1.2.840.10008.1.2.2"
	transferJPEGBaseline = "1.2.840.10008.1.2.4.50"
)

// IsDICOM reports a DICOM Part 10 file: "DICM" after the 128-byte preamble. Files
// without it (bare datasets) are not recognised.
func IsDICOM(b []byte) bool { return len(b) >= 132 && string(b[128:132]) == "DICM" }

// DICOMInfo is what xray reads from a DICOM header besides the pixels. It deliberately
// holds no patient data (no name, no PatientID, no dates).
type DICOMInfo struct {
	SOPInstanceUID string // the image's unique identifier
	ViewPosition   string // PA, AP, LATERAL, ...; "" when absent
	TransferSyntax string // UID
	Photometric    string // MONOCHROME1, MONOCHROME2, ...
	Rows, Columns  int
	Frames         int  // NumberOfFrames, 1 when absent
	HasPixels      bool // the file has pixel data (7FE0,0010)
}

// Warnings are the reasons to doubt a prediction on this image: several frames (only the
// first is read), a lateral view (the models learned frontal chest X-rays).
func (i DICOMInfo) Warnings() []string {
	var w []string
	if i.Frames > 1 {
		w = append(w, fmt.Sprintf("%d frames: only the first is used", i.Frames))
	}
	if v := strings.ToUpper(i.ViewPosition); v == "LATERAL" || v == "LL" || v == "RL" || strings.HasPrefix(v, "LAT") {
		w = append(w, fmt.Sprintf("view position %s: the model was trained on frontal (PA/AP) chest X-rays", i.ViewPosition))
	}
	return w
}

// DICOMPatientHash is the SHA-256 of a DICOM file's PatientID (0010,0020), for grouping a
// patient's images (dataset splits) without keeping the ID; "" when the file has none.
func DICOMPatientHash(b []byte) (string, error) {
	ds, _, err := parseDICOM(b, dicom.SkipPixelData())
	if err != nil {
		return "", err
	}
	id := dicomString(&ds, tag.PatientID)
	if id == "" {
		return "", nil
	}
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:]), nil
}

// ReadDICOMInfo reads a DICOM file's header (not its pixels).
func ReadDICOMInfo(b []byte) (DICOMInfo, error) {
	ds, ts, err := parseDICOM(b, dicom.SkipPixelData())
	if err != nil {
		return DICOMInfo{}, err
	}
	return dicomInfo(&ds, ts), nil
}

// DecodeDICOM decodes the first frame of a DICOM file to 8-bit gray as the package doc
// describes (modality LUT, the window w, MONOCHROME1 inversion), and returns its header.
// A JPEG baseline frame in colour comes back as RGB, without windowing.
func DecodeDICOM(b []byte, w Window) (image.Image, DICOMInfo, error) {
	ds, ts, err := parseDICOM(b, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		return nil, DICOMInfo{}, err
	}
	info := dicomInfo(&ds, ts)
	img, err := dicomPixels(&ds, info, w)
	return img, info, err
}

// parseDICOM checks the file's structure (see guardDICOM) and transfer syntax, then
// parses it with the library, whose panics become ErrDICOM.
func parseDICOM(b []byte, opt dicom.ParseOption) (ds dicom.Dataset, ts string, err error) {
	if !IsDICOM(b) {
		return ds, "", fmt.Errorf("%w: no DICM marker at byte 128", ErrUnsupported)
	}
	if ts, err = guardDICOM(b); err != nil {
		return ds, ts, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrDICOM, r)
		}
	}()
	ds, err = dicom.Parse(bytes.NewReader(b), int64(len(b)), nil, opt)
	if err != nil {
		return ds, ts, fmt.Errorf("%w: %v", ErrDICOM, err)
	}
	return ds, ts, nil
}

// checkTransferSyntax returns a *TransferSyntaxError for a syntax xray does not decode.
func checkTransferSyntax(ts string) error {
	switch ts {
	case "", transferImplicitLE, transferExplicitLE, transferBigEndian, transferJPEGBaseline:
		return nil
	}
	info, _ := uid.Lookup(ts)
	return &TransferSyntaxError{UID: ts, Name: info.Name}
}

func dicomInfo(ds *dicom.Dataset, ts string) DICOMInfo {
	if ts == "" {
		ts = transferImplicitLE
	}
	i := DICOMInfo{
		SOPInstanceUID: dicomString(ds, tag.SOPInstanceUID),
		ViewPosition:   dicomString(ds, tag.ViewPosition),
		TransferSyntax: ts,
		Photometric:    strings.ToUpper(dicomString(ds, tag.PhotometricInterpretation)),
		Frames:         1,
	}
	i.Rows, _ = dicomInt(ds, tag.Rows)
	i.Columns, _ = dicomInt(ds, tag.Columns)
	if n, ok := dicomInt(ds, tag.NumberOfFrames); ok {
		i.Frames = n
	}
	_, err := ds.FindElementByTag(tag.PixelData)
	i.HasPixels = err == nil
	return i
}

// trimDICOMString drops the padding DICOM puts after strings (space or NUL).
func trimDICOMString(s string) string { return strings.Trim(s, " \x00") }

// dicomString is an element's first string value, "" when absent.
func dicomString(ds *dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return ""
	}
	if s, ok := e.Value.GetValue().([]string); ok && len(s) > 0 {
		return trimDICOMString(s[0])
	}
	return ""
}

// dicomInt is an element's first integer value (US, UL, SS, SL or IS).
func dicomInt(ds *dicom.Dataset, t tag.Tag) (int, bool) {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return 0, false
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0], true
		}
	case []string:
		if len(v) > 0 {
			n, err := strconv.Atoi(trimDICOMString(v[0]))
			return n, err == nil
		}
	}
	return 0, false
}

// dicomFloat is an element's first decimal value (DS, FL or FD).
func dicomFloat(ds *dicom.Dataset, t tag.Tag) (float64, bool) {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return 0, false
	}
	switch v := e.Value.GetValue().(type) {
	case []float64:
		if len(v) > 0 {
			return v[0], true
		}
	case []string:
		if len(v) > 0 {
			f, err := strconv.ParseFloat(trimDICOMString(v[0]), 64)
			return f, err == nil
		}
	}
	return 0, false
}
