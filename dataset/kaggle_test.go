package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/labels"
)

// kaggleSplit makes a small Kaggle-layout tree (one patient with images in both train/
// and val/) and splits it with the kaggle scheme.
func kaggleSplit(t *testing.T, fromFolder bool) (*SplitReport, map[string][2]int) {
	t.Helper()
	counts := map[string][2]int{"train": {300, 800}, "test": {234, 390}, "val": {8, 8}}
	root := t.TempDir()
	makeKaggleTree(t, root, counts)
	j := tinyJPEG(t)
	for folder, name := range map[string]string{"train": "person99999_bacteria_1.jpeg", "val": "person99999_bacteria_2.jpeg"} {
		put(t, filepath.Join(root, "chest_xray", folder, "PNEUMONIA", name), withComment(j, name))
		c := counts[folder]
		c[labels.Pneumonia]++
		counts[folder] = c
	}
	cfg := DefaultManifestConfig()
	cfg.Data, cfg.Out = root, filepath.Join(t.TempDir(), "manifest.csv")
	cfg.Split.Scheme, cfg.Split.ValFromFolder = Kaggle, fromFolder
	rep, err := MakeManifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutKaggle {
		t.Fatalf("layout %q, want %q", rep.Layout, LayoutKaggle)
	}
	return rep, counts
}

// folderOf is the Kaggle folder of a manifest path, parsed independently of kaggleFolder.
func folderOf(t *testing.T, p string) string {
	parts := strings.Split(p, "/")
	if len(parts) != 4 || parts[0] != "chest_xray" {
		t.Fatalf("unexpected path %s", p)
	}
	return parts[1]
}

func TestKaggleSchemeKeepsFolders(t *testing.T) {
	rep, counts := kaggleSplit(t, false)
	got := rep.Counts
	if want := counts["test"]; !slices.Equal(got[Test], want[:]) {
		t.Errorf("test split %v (normal, pneumonia), want the test/ folder's %v", got[Test], counts["test"])
	}
	for label := range labels.Default().Len() {
		pool := counts["train"][label] + counts["val"][label]
		if n := got[Train][label] + got[Val][label]; n != pool {
			t.Errorf("%s: train+val %d, want train/+val/ folders' %d", labels.Default().Name(label), n, pool)
		}
		// validation is 20 % of the pool by whole patients: at most one patient's images over
		if want := roundFrac(pool, 0.2); got[Val][label] < want || got[Val][label] > want+30 {
			t.Errorf("%s: %d validation images, want about %d", labels.Default().Name(label), got[Val][label], want)
		}
	}
	patientSplit := map[string]Subset{}
	for _, e := range rep.Manifest.Entries {
		if f := folderOf(t, e.Path); (f == "test") != (e.Split == Test) {
			t.Errorf("%s (folder %s) is in the %s split", e.Path, f, e.Split)
		}
		if e.Split == Test {
			continue
		}
		if s, ok := patientSplit[e.Patient]; ok && s != e.Split {
			t.Errorf("patient %s is in both %s and %s", e.Patient, s, e.Split)
		}
		patientSplit[e.Patient] = e.Split
	}
	if _, ok := patientSplit["person99999"]; !ok {
		t.Error("the patient spanning train/ and val/ is missing")
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "test         234        390     624") {
		t.Errorf("table does not show the test folder's counts:\n%s", table.String())
	}
}

func TestKaggleSchemeValFromFolder(t *testing.T) {
	rep, counts := kaggleSplit(t, true)
	for _, s := range Subsets {
		if want := counts[map[Subset]string{Train: "train", Val: "val", Test: "test"}[s]]; !slices.Equal(rep.Counts[s], want[:]) {
			t.Errorf("%s split %v, want the folder's %v", s, rep.Counts[s], want)
		}
	}
}

func TestKaggleSchemeErrors(t *testing.T) {
	plain := t.TempDir()
	j := tinyJPEG(t)
	for _, f := range []string{"NORMAL/IM-0001-0001.jpeg", "PNEUMONIA/person1_virus_1.jpeg"} {
		put(t, filepath.Join(plain, f), withComment(j, f))
	}
	cfg := DefaultManifestConfig()
	cfg.Data, cfg.Out = plain, filepath.Join(t.TempDir(), "m.csv")
	cfg.Split.Scheme = Kaggle
	if _, err := MakeManifest(cfg); err == nil || !strings.Contains(err.Error(), "kaggle scheme needs chest_xray/{train,test,val}") {
		t.Errorf("plain tree: err %v, want one naming the Kaggle layout", err)
	}
	if _, err := os.Stat(cfg.Out); err == nil {
		t.Error("a manifest was written despite the error")
	}
	noTest := t.TempDir()
	for _, f := range []string{"train/NORMAL/IM-0001-0001.jpeg", "train/PNEUMONIA/person1_virus_1.jpeg"} {
		put(t, filepath.Join(noTest, f), withComment(j, f))
	}
	cfg.Data = noTest
	if _, err := MakeManifest(cfg); err == nil || !strings.Contains(err.Error(), "no images in a test/ folder") {
		t.Errorf("tree without test/: err %v, want one naming test/", err)
	}
	_, err := Split(entriesOf(3, 3), SplitOptions{Scheme: Patient, ValFromFolder: true})
	if err == nil || !strings.Contains(err.Error(), "kaggle scheme") {
		t.Errorf("ValFromFolder with the patient scheme: err %v, want a refusal", err)
	}
}
