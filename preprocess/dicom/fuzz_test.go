package dicom_test

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/preprocess/dicom"
)

// FuzzDecode feeds arbitrary bytes to the reader: no input may panic, and whatever
// decodes is a gray image of the header's size at origin (0, 0). The seed corpus (the
// DICOM test files, compressed frames through GDCM among them, and their damaged
// variants) runs in every plain `go test`; explore with
//
//	go test ./preprocess/dicom -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "dicom", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range badDICOMs(f) {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = dicom.ReadInfo(b)
		_, _ = dicom.PatientHash(b)
		for _, w := range []dicom.Window{{}, {Mode: dicom.WindowMinMax}} {
			img, info, err := dicom.Decode(b, w)
			if err != nil {
				continue
			}
			g, ok := img.(*image.Gray)
			if !ok {
				t.Fatalf("Decode returned a %T", img)
			}
			if g.Rect != image.Rect(0, 0, info.Columns, info.Rows) || len(g.Pix) != info.Columns*info.Rows {
				t.Fatalf("decoded %v (%d pixels), the header says %d x %d", g.Rect, len(g.Pix), info.Columns, info.Rows)
			}
		}
	})
}
