package dataset

import (
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
)

// TestPaperSchemeLeaksOnKaggleTrain backs the claim in the package doc and the README:
// on the 5216 images of the Kaggle train folder (the shared kermany-224 copy keeps the
// original file names, which carry the patient ids), the paper's image-level split with
// seed 42 puts 722 of the 2846 patients in more than one split. The patients and leaks
// are counted here independently of PatientLeaks; the patient scheme must leak none.
func TestPaperSchemeLeaksOnKaggleTrain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: ingests 5216 images")
	}
	data := pyref.SharedData(t, "kermany-224/train")
	cfg := DefaultManifestConfig()
	cfg.Data, cfg.Out = data, filepath.Join(t.TempDir(), "manifest.csv")
	rep, err := MakeManifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	entries := rep.Manifest.Entries
	patients := map[string]bool{}
	for _, e := range entries {
		patients[e.Patient] = true
	}
	got := leaks(entries)
	t.Logf("%d images, %d patients, %d leak under the paper scheme (report: %d, %d)", len(entries), len(patients), got, rep.Leaks, rep.PaperLeaks)
	if len(entries) != 5216 || len(patients) != 2846 {
		t.Fatalf("%d images of %d patients in %s, want the Kaggle train folder's 5216 of 2846", len(entries), len(patients), data)
	}
	if got != 722 || rep.Leaks != got || rep.PaperLeaks != got {
		t.Errorf("paper scheme, seed 42: %d patients leak (report %d, paper %d), the docs say 722", got, rep.Leaks, rep.PaperLeaks)
	}

	cfg.Split.Scheme = Patient
	cfg.Out = filepath.Join(t.TempDir(), "patient.csv")
	if rep, err = MakeManifest(cfg); err != nil {
		t.Fatal(err)
	}
	if n := leaks(rep.Manifest.Entries); n != 0 || rep.PaperLeaks != 722 {
		t.Errorf("patient scheme: %d patients leak (want 0); paper-scheme comparison %d (want 722)", n, rep.PaperLeaks)
	}
}
