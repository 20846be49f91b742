package dicom_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xraylab/xray/preprocess/dicom"
)

func readDICOM(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dicom", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// explicitUS returns the offset of the value of an explicit-VR little-endian US element.
func explicitUS(t testing.TB, b []byte, group, elem uint16) int {
	t.Helper()
	pat := binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, group), elem)
	pat = append(pat, 'U', 'S', 2, 0)
	i := bytes.Index(b[132:], pat)
	if i < 0 {
		t.Fatalf("no (%04X,%04X) US element", group, elem)
	}
	return 132 + i + len(pat)
}

func patched(b []byte, at int, v []byte) []byte {
	c := bytes.Clone(b)
	copy(c[at:], v)
	return c
}

// badDICOMs are damaged or unsupported files made from testdata/dicom, with the error
// each must give and a word its message must hold.
func badDICOMs(t testing.TB) []struct {
	name string
	b    []byte
	want error
	says string
} {
	mono2, mono16, jpeg, multi := readDICOM(t, "mono2_8bit.dcm"), readDICOM(t, "mono1_window.dcm"), readDICOM(t, "jpeg_baseline.dcm"), readDICOM(t, "multiframe.dcm")
	pixelTag := []byte{0xE0, 0x7F, 0x10, 0x00, 'O'}
	pix := bytes.LastIndex(mono2, pixelTag)
	if pix < 0 {
		t.Fatal("mono2_8bit.dcm: no explicit pixel data element")
	}
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	rows, cols := explicitUS(t, mono16, 0x28, 0x10), explicitUS(t, mono16, 0x28, 0x11)
	huge := patched(patched(mono16, rows, u16(65535)), cols, u16(65535))
	zero := patched(patched(mono2, explicitUS(t, mono2, 0x28, 0x10), u16(0)), explicitUS(t, mono2, 0x28, 0x11), u16(0))
	frames := bytes.Index(multi, []byte("3 "))
	modality := bytes.Index(mono2, []byte{0x08, 0x00, 0x60, 0x00, 'C', 'S'}) // (0008,0060) Modality
	if frames < 0 || modality < 0 {
		t.Fatal("test files lack NumberOfFrames or Modality")
	}
	// A meta group, then sequences nested 40 deep, each of undefined length.
	deep := bytes.Clone(mono2[:bytes.Index(mono2, []byte{0x08, 0x00})])
	for range 40 {
		deep = append(deep, 0x08, 0x00, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF) // (0008,1140) SQ
		deep = append(deep, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF)                 // item
	}
	sof := bytes.Index(jpeg[132:], []byte{0xFF, 0xC0}) // the JPEG frame's SOF0
	if sof < 0 {
		t.Fatal("jpeg_baseline.dcm: no SOF0 marker")
	}
	jpegBomb := patched(jpeg, 132+sof+5, []byte{0xFF, 0xFF, 0xFF, 0xFF}) // 65535 x 65535
	notDICOM := bytes.Clone(mono2)
	copy(notDICOM[128:], "DICX")
	return []struct {
		name string
		b    []byte
		want error
		says string
	}{
		{"truncated", mono2[:len(mono2)/2], dicom.ErrDamaged, "truncated"},
		{"no pixel data", mono2[:pix], dicom.ErrDamaged, "no pixel data"},
		{"JPEG 2000 Part 2", bytes.ReplaceAll(jpeg, []byte("1.2.840.10008.1.2.4.50"), []byte("1.2.840.10008.1.2.4.92")), dicom.ErrUnsupported, "Multi-component"},
		{"JPEG labelled JPEG 2000", bytes.ReplaceAll(jpeg, []byte("1.2.840.10008.1.2.4.50"), []byte("1.2.840.10008.1.2.4.90")), dicom.ErrDamaged, "could not decode"},
		{"0 x 0", zero, dicom.ErrDamaged, "0 x 0"},
		{"65535 x 65535", huge, dicom.ErrDamaged, "65535 x 65535"},
		{"frames beyond the data", patched(multi, frames, []byte("9")), dicom.ErrDamaged, "9 frames"},
		{"pixel data length bomb", patched(mono2, pix+8, []byte{0xF0, 0xFF, 0xFF, 0xFF}), dicom.ErrDamaged, "claims"},
		{"short length past the end", patched(mono2, modality+6, []byte{0xFF, 0xFF}), dicom.ErrDamaged, "claims 65535 bytes"},
		{"nesting bomb", deep, dicom.ErrDamaged, "nested"},
		{"no DICM marker", notDICOM, dicom.ErrNotDICOM, "no DICM marker"},
		{"JPEG frame larger than the header", jpegBomb, dicom.ErrDamaged, "the compressed frame is 65535 x 65535"},
		{"meta length bomb", patched(mono2, 140, []byte{0xFF, 0xFF, 0xFF, 0x7F}), dicom.ErrDamaged, "meta group"},
	}
}

// TestDICOMRejects: each bad file gets its typed error with a clear one-line message, no
// panic, and the library is never let to allocate more than a few times the file.
func TestDICOMRejects(t *testing.T) {
	if _, _, err := dicom.Decode(readDICOM(t, "mono2_8bit.dcm"), dicom.Window{}); err != nil {
		t.Fatal(err) // also warms the library's tag dictionary, outside the measurement
	}
	for _, c := range badDICOMs(t) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := dicom.Decode(c.b, dicom.Window{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v; want one line matching %v and saying %q", c.name, err, c.want, c.says)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", c.name, n, len(c.b))
		}
		// Config reads headers only: it leaves sizes and the pixels to Decode.
		if _, err := dicom.Config(c.b); err == nil && c.name != "0 x 0" && c.name != "65535 x 65535" && c.name != "frames beyond the data" && c.name != "JPEG labelled JPEG 2000" && c.name != "JPEG frame larger than the header" {
			t.Errorf("%s: Config accepted it", c.name)
		}
	}
	var ts *dicom.TransferSyntaxError
	_, _, err := dicom.Decode(badDICOMs(t)[2].b, dicom.Window{})
	if !errors.As(err, &ts) || ts.UID != "1.2.840.10008.1.2.4.92" {
		t.Errorf("JPEG 2000 Part 2: %v is not a *dicom.TransferSyntaxError naming 1.2.840.10008.1.2.4.92", err)
	}
}

func TestWindowText(t *testing.T) {
	for in, want := range map[string]dicom.Window{
		"auto": {}, "minmax": {Mode: dicom.WindowMinMax}, "2048,4096": {Mode: dicom.WindowFixed, Center: 2048, Width: 4096},
		" -600 , 1500 ": {Mode: dicom.WindowFixed, Center: -600, Width: 1500},
	} {
		var w dicom.Window
		if err := w.UnmarshalText([]byte(in)); err != nil || w != want {
			t.Errorf("%q: %+v, %v; want %+v", in, w, err, want)
		}
		txt, _ := w.MarshalText()
		var back dicom.Window
		if err := back.UnmarshalText(txt); err != nil || back != w {
			t.Errorf("%q: %q does not read back: %+v, %v", in, txt, back, err)
		}
	}
	for _, in := range []string{"2048", "2048,0", "a,b", "1,NaN", "1,Inf", "window"} {
		var w dicom.Window
		if err := w.UnmarshalText([]byte(in)); !errors.Is(err, dicom.ErrWindow) {
			t.Errorf("%q: error %v, want ErrWindow", in, err)
		}
	}
	if err := (dicom.Window{Mode: dicom.WindowFixed, Width: 0}).Validate(); !errors.Is(err, dicom.ErrWindow) {
		t.Errorf("Validate of a zero-width window: %v, want ErrWindow", err)
	}
}

// TestDICOMBareDataset: a file without the 128-byte preamble (meta group first, or the
// dataset alone, explicit or implicit VR) decodes to the pixels of the Part 10 file, as
// pydicom reads such files with force=True.
func TestDICOMBareDataset(t *testing.T) {
	for _, name := range []string{"mono2_8bit.dcm", "rescale.dcm"} {
		b := readDICOM(t, name)
		want, _, err := dicom.Decode(b, dicom.Window{})
		if err != nil {
			t.Fatal(err)
		}
		metaLen := int(binary.LittleEndian.Uint32(b[140:]))
		for what, bare := range map[string][]byte{"meta, no preamble": b[132:], "dataset only": b[144+metaLen:]} {
			got, info, err := dicom.Decode(bare, dicom.Window{})
			if err != nil {
				t.Errorf("%s, %s: %v", name, what, err)
				continue
			}
			if !bytes.Equal(got.(*image.Gray).Pix, want.(*image.Gray).Pix) || info.SOPInstanceUID == "" {
				t.Errorf("%s, %s: pixels differ from the Part 10 file's (SOPInstanceUID %q)", name, what, info.SOPInstanceUID)
			}
		}
	}
}
