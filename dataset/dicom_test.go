package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
