package preprocess

import (
	"bytes"
	"encoding/binary"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder and the preprocessor: no input may
// panic, and whatever decodes must preprocess to exactly Size*Size*3 values in range.
// The seed corpus (every testdata format, the bad files, a real X-ray, hand-made EXIF
// headers, the DICOM test files) runs in every plain `go test` (preprocess/dicom's
// FuzzDecode adds the damaged DICOM variants); explore with
//
//	go test ./preprocess -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"formats/*", "bad/*", "dicom/*", "chest_xray/*/PNEUMONIA/person325_virus_659.jpeg"} {
		files, _ := filepath.Glob(filepath.Join("..", "testdata", pattern))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xD8, 0xFF})
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add(jpegWithExif(binary.LittleEndian, 6))
	f.Add(jpegWithExif(binary.BigEndian, 8))
	p := Preprocessor{Size: 32, Scaling: ImageNet}
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Decode(b)
		if err != nil {
			return
		}
		bd := img.Bounds()
		var n int
		switch m := img.(type) {
		case *image.Gray:
			n = len(m.Pix)
		case *image.NRGBA:
			n = len(m.Pix) / 4
		default:
			t.Fatalf("Decode returned a %T", img)
		}
		if bd.Min != (image.Point{}) || n != bd.Dx()*bd.Dy() {
			t.Fatalf("decoded image %v has %d pixels", bd, n)
		}
		out, err := p.Floats(img)
		if err != nil {
			t.Fatalf("Floats of a decoded image: %v", err)
		}
		if len(out) != p.Len() {
			t.Fatalf("got %d floats, want %d", len(out), p.Len())
		}
		for _, v := range out {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("value %v outside [-1, 1]", v)
			}
		}
	})
}

// jpegWithExif is a JPEG header (SOI + APP1 Exif with only an orientation tag) followed by
// a tiny real image's segments, for the orientation parser.
func jpegWithExif(bo binary.ByteOrder, orientation uint16) []byte {
	tiff := make([]byte, 8+2+12+4)
	if bo == binary.LittleEndian {
		copy(tiff, "II")
	} else {
		copy(tiff, "MM")
	}
	bo.PutUint16(tiff[2:], 42)
	bo.PutUint32(tiff[4:], 8)
	bo.PutUint16(tiff[8:], 1)
	bo.PutUint16(tiff[10:], 0x0112)
	bo.PutUint16(tiff[12:], 3)
	bo.PutUint32(tiff[14:], 1)
	bo.PutUint16(tiff[18:], orientation)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xD8, 0xFF, 0xE1})
	binary.Write(&b, binary.BigEndian, uint16(len(seg)+2))
	b.Write(seg)
	return b.Bytes()
}

func TestJPEGOrientation(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"little-endian 6", jpegWithExif(binary.LittleEndian, 6), 6},
		{"big-endian 8", jpegWithExif(binary.BigEndian, 8), 8},
		{"out of range 9", jpegWithExif(binary.BigEndian, 9), 1},
		{"truncated segment", jpegWithExif(binary.BigEndian, 3)[:20], 1},
		{"no exif", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, 1},
		{"not a jpeg", []byte("hello"), 1},
	} {
		if got := jpegOrientation(c.b); got != c.want {
			t.Errorf("%s: orientation %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	huge := func() []byte { // a real JPEG whose frame header claims 65535 x 65535 pixels
		b, err := os.ReadFile(filepath.Join("..", "testdata", "formats", "gray.jpeg"))
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte{0xFF, 0xC0})
		if i < 0 {
			t.Fatal("gray.jpeg has no baseline frame header")
		}
		binary.BigEndian.PutUint16(b[i+5:], 65535)
		binary.BigEndian.PutUint16(b[i+7:], 65535)
		return b
	}()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "bad", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", read("empty.jpeg"), "empty file"},
		{"text named .jpeg", read("notes.jpeg"), "not a JPEG, PNG or DICOM"},
		{"truncated", read("truncated.jpeg"), "corrupt jpeg"},
		{"bomb header", huge, "pixels"},
	} {
		_, err := Decode(c.b)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
}
