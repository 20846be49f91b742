package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/labels"
)

// subtypeTree writes a plain NORMAL/PNEUMONIA tree whose pneumonia names carry the cause
// as the Kermany release writes it (and, with extra, names that carry none).
func subtypeTree(t *testing.T, extra ...string) string {
	root := t.TempDir()
	j := tinyJPEG(t)
	names := append([]string{
		"NORMAL/IM-0001-0001.jpeg", "NORMAL/NORMAL2-IM-0002-0001.jpeg",
		"PNEUMONIA/person1_bacteria_1.jpeg", "PNEUMONIA/person1_bacteria_2.jpeg",
		"PNEUMONIA/person2_virus_3.jpeg", "PNEUMONIA/PERSON3_VIRUS_4.JPEG",
	}, extra...)
	for _, n := range names {
		put(t, filepath.Join(root, filepath.FromSlash(n)), withComment(j, n))
	}
	return root
}

func TestSubtypeLabelsFromFileNames(t *testing.T) {
	root := subtypeTree(t)
	want := map[string][2]int{ // path: default label, subtype label
		"NORMAL/IM-0001-0001.jpeg":          {0, 0},
		"NORMAL/NORMAL2-IM-0002-0001.jpeg":  {0, 0},
		"PNEUMONIA/person1_bacteria_1.jpeg": {1, 1},
		"PNEUMONIA/person1_bacteria_2.jpeg": {1, 1},
		"PNEUMONIA/person2_virus_3.jpeg":    {1, 2},
		"PNEUMONIA/PERSON3_VIRUS_4.JPEG":    {1, 2},
	}
	for k, classes := range []labels.Set{{}, labels.Subtypes()} {
		in, err := Ingest(root, IngestOptions{Classes: classes})
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Entries) != len(want) {
			t.Fatalf("%d entries, want %d", len(in.Entries), len(want))
		}
		for _, e := range in.Entries {
			if w, ok := want[e.Path]; !ok || e.Label != w[k] {
				t.Errorf("classes %q: %s labelled %d, want %d", in.Classes, e.Path, e.Label, w[k])
			}
		}
	}
	// The names in the manifest's label column, and read back as the same vocabulary.
	out := filepath.Join(t.TempDir(), "m.csv")
	cfg := DefaultManifestConfig()
	cfg.Data, cfg.Out, cfg.Classes = root, out, labels.Subtypes()
	cfg.Split = SplitOptions{Scheme: Stratified, TestFraction: 0.5}
	rep, err := MakeManifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	for _, row := range []string{"PNEUMONIA/person2_virus_3.jpeg,viral,", "PNEUMONIA/person1_bacteria_1.jpeg,bacterial,", "NORMAL/IM-0001-0001.jpeg,normal,"} {
		if !strings.Contains(string(raw), row) {
			t.Errorf("manifest has no row starting %q:\n%s", row, raw)
		}
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Classes.Equal(labels.Subtypes()) || !slices.Equal(m.Entries[0:1], rep.Manifest.Entries[0:1]) {
		t.Errorf("read back classes %q, first entry %+v; want %q, %+v", m.Classes, m.Entries[0], labels.Subtypes(), rep.Manifest.Entries[0])
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.HasPrefix(table.String(), "split     normal  bacterial     viral   total\n") {
		t.Errorf("table:\n%s", table.String())
	}
}

func TestSubtypeErrors(t *testing.T) {
	root := subtypeTree(t, "PNEUMONIA/person4_5.jpeg", "PNEUMONIA/person5_bacteria_virus_6.jpeg", "PNEUMONIA/person6_bacterial_7.jpeg")
	_, err := Ingest(root, IngestOptions{Classes: labels.Subtypes()})
	if !errors.Is(err, ErrNoSubtype) {
		t.Fatalf("error %v, want ErrNoSubtype", err)
	}
	for _, s := range []string{"3 PNEUMONIA files", "person4_5.jpeg", "person5_bacteria_virus_6.jpeg", "person6_bacterial_7.jpeg", "normal,pneumonia"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	// The two-class vocabulary does not need the cause.
	if _, err := Ingest(root, IngestOptions{}); err != nil {
		t.Errorf("default classes: %v", err)
	}
	odd, _ := labels.New("normal", "covid")
	if _, err := Ingest(root, IngestOptions{Classes: odd}); !errors.Is(err, ErrClasses) {
		t.Errorf("classes normal,covid: error %v, want ErrClasses", err)
	}
	// A manifest mixing the vocabularies names the line.
	p := filepath.Join(t.TempDir(), "m.csv")
	os.WriteFile(p, []byte("path,label,split,patient,sha256\na.jpeg,pneumonia,train,p,\nb.jpeg,viral,test,q,\n"), 0o644)
	if _, err := ReadManifest(p); err == nil || !strings.Contains(err.Error(), "line 3: unknown label \"viral\"") {
		t.Errorf("mixed manifest: error %v", err)
	}
}

// Every class gets its share of test and validation images, for each scheme.
func TestSplitStratifiesEveryClass(t *testing.T) {
	var entries []Entry
	for i, n := range []int{101, 157, 83} {
		for k := range n {
			name := fmt.Sprintf("C%d/person%d_%d.jpeg", i, 1000*i+k/3, k)
			entries = append(entries, Entry{Path: name, Label: i, Patient: PatientID(name)})
		}
	}
	out, err := Split(entries, SplitOptions{Scheme: Stratified, Seed: 3, TestFraction: 0.25, ValFraction: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	// Per class: test round(n/4), validation round(0.1 * rest), written out by hand.
	got := Count(out)
	if !slices.Equal(got[Test], []int{25, 39, 21}) || !slices.Equal(got[Val], []int{8, 12, 6}) || !slices.Equal(got[Train], []int{68, 106, 56}) {
		t.Errorf("stratified counts %v", got)
	}
	out, err = Split(entries, SplitOptions{Scheme: Patient, Seed: 3, TestFraction: 0.25, ValFraction: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	got = Count(out)
	for c, n := range []int{101, 157, 83} {
		// Whole patients of three images: a share overshoots by at most two images.
		if test := got[Test][c]; test < n/4 || test > n/4+3 {
			t.Errorf("patient scheme, class %d: %d test images of %d", c, test, n)
		}
	}
	if leaks(out) != 0 {
		t.Errorf("patient scheme leaks %d patients", leaks(out))
	}
}
