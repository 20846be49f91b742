package dicom

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// MaxPixels bounds the Rows x Columns the reader accepts (33.5 Mpx, package preprocess's
// bound for every format), checked before any pixel is decoded.
const MaxPixels = 1 << 25

// The errors of the reader, matched with errors.Is.
var (
	// ErrNotDICOM: the bytes are not DICOM (no "DICM" at byte 128, no dataset at byte 0).
	ErrNotDICOM = errors.New("not a DICOM file")
	// ErrDamaged: the file says it is DICOM but is damaged (truncated, lengths that run past
	// the end, no pixel data, a header that claims absurd sizes, a frame the codec cannot
	// decode).
	ErrDamaged = errors.New("damaged DICOM file")
	// ErrUnsupported: a valid DICOM file xray cannot turn into a gray image (a
	// transfer syntax xray does not decode, palette colour, a modality LUT sequence). A
	// *TransferSyntaxError and a *NoImageError match it too.
	ErrUnsupported = errors.New("unsupported DICOM file")
)

// TransferSyntaxError names a transfer syntax xray does not decode. It matches
// ErrUnsupported with errors.Is.
type TransferSyntaxError struct {
	UID  string // e.g. 1.2.840.10008.1.2.4.100
	Name string // e.g. MPEG2 Main Profile / Main Level; "" when unknown
}

func (e *TransferSyntaxError) Error() string {
	name := e.Name
	if name == "" {
		name = "unknown transfer syntax"
	}
	return fmt.Sprintf("DICOM transfer syntax %s (%s) is not supported: xray reads uncompressed, deflated, RLE, JPEG (baseline, extended, lossless), JPEG-LS and JPEG 2000 files; convert the file, e.g. gdcmconv --raw or dcmdjpeg", name, e.UID)
}

// Unwrap makes the error match ErrUnsupported.
func (e *TransferSyntaxError) Unwrap() error { return ErrUnsupported }

// NoImageError is a DICOM file without an image (a structured report, an RT plan, a
// waveform). It matches ErrUnsupported with errors.Is.
type NoImageError struct {
	SOPClassUID string
	Name        string // the SOP class's name; "" when unknown
}

func (e *NoImageError) Error() string {
	name := e.Name
	if name == "" {
		name = e.SOPClassUID
	}
	if name == "" {
		name = "none given"
	}
	return fmt.Sprintf("DICOM file holds no image (SOP class %s)", name)
}

// Unwrap makes the error match ErrUnsupported.
func (e *NoImageError) Unwrap() error { return ErrUnsupported }

// Transfer syntaxes xray decodes: native ones here, compressed ones through internal/gdcm.
const (
	transferImplicitLE   = "1.2.840.10008.1.2"
	transferExplicitLE   = "1.2.840.10008.1.2.1"
	transferDeflated     = "1.2.840.10008.1.2.1.99"
	transferBigEndian    = "1.2.840.10008.1.2.2"
	transferJPEGBaseline = "1.2.840.10008.1.2.4.50"
)

// compressedSyntaxes are the encapsulated transfer syntaxes GDCM decodes for xray.
var compressedSyntaxes = map[string]bool{
	transferJPEGBaseline:     true, // JPEG baseline, 8 bit
	"1.2.840.10008.1.2.4.51": true, // JPEG extended, 12 bit
	"1.2.840.10008.1.2.4.57": true, // JPEG lossless, process 14
	"1.2.840.10008.1.2.4.70": true, // JPEG lossless, process 14 selection value 1
	"1.2.840.10008.1.2.4.80": true, // JPEG-LS lossless
	"1.2.840.10008.1.2.4.81": true, // JPEG-LS near-lossless
	"1.2.840.10008.1.2.4.90": true, // JPEG 2000 lossless
	"1.2.840.10008.1.2.4.91": true, // JPEG 2000
	"1.2.840.10008.1.2.5":    true, // RLE lossless
}

// Is reports a DICOM file: a Part 10 file ("DICM" after the 128-byte preamble) or a
// bare dataset without preamble and meta group, which starts with an element of group
// 0002 or 0008.
func Is(b []byte) bool { return dicomStart(b) >= 0 }

// Info is what xray reads from a DICOM header besides the pixels. It deliberately
// holds no patient data (no name, no PatientID, no dates).
type Info struct {
	SOPInstanceUID string // the image's unique identifier
	SOPClassUID    string // what kind of object the file holds
	ViewPosition   string // PA, AP, LATERAL, ...; "" when absent
	TransferSyntax string // UID
	Photometric    string // MONOCHROME1, MONOCHROME2, RGB, ...
	Rows, Columns  int
	Frames         int  // NumberOfFrames, 1 when absent
	BitsStored     int  // 0 when absent
	HasPixels      bool // the file has pixel data (7FE0,0010)
	HasWindow      bool // a VOI LUT Sequence or a WindowCenter/WindowWidth
}

// Warnings are the reasons to doubt a prediction on this image read with window win:
// several frames (only the first is read), a lateral view (the models learned frontal
// chest X-rays), no window of its own under WindowAuto (NoWindow).
func (i Info) Warnings(win Window) []string {
	var w []string
	if i.Frames > 1 {
		w = append(w, fmt.Sprintf("%d frames: only the first is used", i.Frames))
	}
	if v := strings.ToUpper(i.ViewPosition); v == "LATERAL" || v == "LL" || v == "RL" || strings.HasPrefix(v, "LAT") {
		w = append(w, fmt.Sprintf("view position %s: the model was trained on frontal (PA/AP) chest X-rays", i.ViewPosition))
	}
	if win.Mode == WindowAuto && i.NoWindow() {
		w = append(w, fmt.Sprintf("%s: no VOI LUT or window in the file: shown over the full %d-bit range, which may look flat gray; the minmax window or a fixed one chooses another", NoWindowWarning, i.BitsStored))
	}
	return w
}

// NoWindowWarning starts the warning Warnings gives for NoWindow, so callers can count it.
const NoWindowWarning = "no window"

// NoWindow reports a monochrome image of more than 8 bits that has no window of its own
// (no VOI LUT, no WindowCenter/WindowWidth): under WindowAuto it is shown over the full
// range BitsStored allows, which for a detector that uses part of it looks flat gray.
func (i Info) NoWindow() bool {
	return i.HasPixels && !i.HasWindow && i.BitsStored > 8 && strings.HasPrefix(i.Photometric, "MONOCHROME")
}

// PatientHash is the SHA-256 of a DICOM file's PatientID (0010,0020), for grouping a
// patient's images (dataset splits) without keeping the ID; "" when the file has none.
func PatientHash(b []byte) (string, error) {
	f, err := parseDICOMFile(b)
	if err != nil {
		return "", err
	}
	id := f.ds.str(tag.PatientID)
	if id == "" {
		return "", nil
	}
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:]), nil
}

// ReadInfo reads a DICOM file's header.
func ReadInfo(b []byte) (Info, error) {
	f, err := parseDICOMFile(b)
	if err != nil {
		return Info{TransferSyntax: fileTS(f)}, err
	}
	return dicomInfo(f), nil
}

// Config reads the header of a DICOM image, as ReadInfo, and refuses a file without pixel
// data with the error Decode would give (a *NoImageError, or ErrDamaged for an image that
// lost them). It checks the file's structure, not the size (Decode does).
func Config(b []byte) (Info, error) {
	info, err := ReadInfo(b)
	if err == nil && !info.HasPixels {
		err = noPixels(info)
	}
	return info, err
}

func fileTS(f *dcmFile) string {
	if f == nil {
		return ""
	}
	return f.ts
}

// Decode decodes the first frame of a DICOM file to 8-bit gray as the package doc
// describes (modality LUT, the window w, MONOCHROME1 inversion; colour by luma), and
// returns its header.
func Decode(b []byte, w Window) (image.Image, Info, error) {
	s, info, err := decodeDICOMSamples(b)
	if err != nil {
		return nil, info, err
	}
	img, err := s.gray(w)
	return img, info, err
}

// checkTransferSyntax returns a *TransferSyntaxError for a syntax xray does not decode.
func checkTransferSyntax(ts string) error {
	switch {
	case ts == "", ts == transferImplicitLE, ts == transferExplicitLE, ts == transferBigEndian,
		ts == transferDeflated, compressedSyntaxes[ts]:
		return nil
	}
	info, _ := uid.Lookup(ts)
	return &TransferSyntaxError{UID: ts, Name: info.Name}
}

func dicomInfo(f *dcmFile) Info {
	ds, ts := f.ds, f.ts
	if ts == "" {
		ts = transferImplicitLE
	}
	i := Info{
		SOPInstanceUID: ds.str(tag.SOPInstanceUID),
		SOPClassUID:    ds.str(tag.SOPClassUID),
		ViewPosition:   ds.str(tag.ViewPosition),
		TransferSyntax: ts,
		Photometric:    strings.ToUpper(ds.str(tag.PhotometricInterpretation)),
		Frames:         1,
		HasPixels:      ds.has(tag.PixelData),
		HasWindow: ds.has(tag.VOILUTSequence) ||
			(ds.str(tag.WindowCenter) != "" && ds.str(tag.WindowWidth) != ""),
	}
	i.Rows, _ = ds.integer(tag.Rows)
	i.Columns, _ = ds.integer(tag.Columns)
	i.BitsStored, _ = ds.integer(tag.BitsStored)
	if n, ok := ds.integer(tag.NumberOfFrames); ok {
		i.Frames = n
	}
	return i
}
