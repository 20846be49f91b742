package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/preprocess"
)

// TestIngestAndLoadDICOM: DICOM files are found by content in a class folder (a bare
// dataset without the preamble too), a .dcm that is not DICOM is skipped with the reason, and the loader decodes DICOM with its
// configured window (the pixels preprocess gives for the same file and window).
func TestIngestAndLoadDICOM(t *testing.T) {
	root := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "dicom", "*.dcm"))
	if len(files) < 8 {
		t.Fatalf("testdata/dicom has %d .dcm files, want 8", len(files))
	}
	for i, f := range files {
		b, _ := os.ReadFile(f)
		class := []string{"NORMAL", "PNEUMONIA"}[i%2]
		put(t, filepath.Join(root, class, "scan-"+filepath.Base(f)), b)
		if i == 0 { // a bare dataset (no preamble) is read; a .dcm of another kind is not
			put(t, filepath.Join(root, class, "bare.dcm"), b[132:])
			put(t, filepath.Join(root, class, "notes.dcm"), []byte("a text file named .dcm"))
		}
	}
	for _, verify := range []bool{false, true} {
		in, err := Ingest(root, IngestOptions{Verify: verify})
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Entries) != len(files)+1 || len(in.Skipped) != 1 || !strings.Contains(in.Skipped[0].Reason, "not DICOM") {
			t.Fatalf("verify=%v: %d entries (want %d), skipped %+v (want notes.dcm: not DICOM)", verify, len(in.Entries), len(files)+1, in.Skipped)
		}
	}
	in, _ := Ingest(root, IngestOptions{})
	for _, w := range []preprocess.Window{{}, {Mode: preprocess.WindowMinMax}, {Mode: preprocess.WindowFixed, Center: 1000, Width: 2000}} {
		cfg := smallConfig()
		cfg.Window, cfg.Shuffle = w, false
		l, err := NewLoader(root, in.Entries, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range collect(t, l, 0) {
			n := cfg.Len()
			for k, p := range b.Paths {
				want, err := cfg.File(filepath.Join(root, p))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(b.Images[k*n:(k+1)*n], want) {
					t.Errorf("window %v: %s: the loader's pixels are not preprocess's", w, p)
				}
			}
		}
	}
}

// TestDICOMPatients: DICOM files are grouped by the PatientID in their header, whatever
// their names, under names that hold nothing of the ID (dicom-patient-N, numbered by
// first file), so patient-level splits keep a patient's images together.
func TestDICOMPatients(t *testing.T) {
	root := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "dicom", "*.dcm"))
	want := map[string]string{} // path -> the PatientID written into it
	for i, f := range files {
		b, _ := os.ReadFile(f)
		id := "TEST-0001"
		if i%3 == 0 { // same length: the element's length field stays right
			id = "TEST-0002"
			b = []byte(strings.Replace(string(b), "TEST-0001", id, 1))
		}
		rel := filepath.ToSlash(filepath.Join([]string{"NORMAL", "PNEUMONIA"}[i%2], "IM-"+strings.Repeat("9", i+1)+"-0001.dcm"))
		put(t, filepath.Join(root, filepath.FromSlash(rel)), b)
		want[rel] = id
	}
	in, err := Ingest(root, IngestOptions{})
	if err != nil || len(in.Entries) != len(files) {
		t.Fatalf("ingest: %v, %d entries", err, len(in.Entries))
	}
	byID := map[string]string{}
	for _, e := range in.Entries {
		if strings.Contains(e.Patient, "TEST") || !strings.HasPrefix(e.Patient, "dicom-patient-") {
			t.Errorf("%s: patient %q, want dicom-patient-N", e.Path, e.Patient)
		}
		id := want[e.Path]
		if p, ok := byID[id]; ok && p != e.Patient {
			t.Errorf("%s: patient %q, but another file of %s is %q", e.Path, e.Patient, id, p)
		}
		byID[id] = e.Patient
	}
	if len(byID) != 2 || byID["TEST-0001"] == byID["TEST-0002"] {
		t.Errorf("patients %v: want two distinct", byID)
	}
}
