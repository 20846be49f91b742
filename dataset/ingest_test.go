package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/progress"
)

// copyTree copies testdata/chest_xray (or a part of it) to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIngestSkipsBadFiles(t *testing.T) {
	root := t.TempDir()
	copyTree(t, filepath.Join("..", "testdata", "chest_xray", "val"), filepath.Join(root, "chest_xray", "val"))
	bad, _ := filepath.Glob(filepath.Join("..", "testdata", "bad", "*"))
	if len(bad) != 4 {
		t.Fatalf("testdata/bad has %d files, want 4", len(bad))
	}
	for _, p := range bad {
		b, _ := os.ReadFile(p)
		put(t, filepath.Join(root, "chest_xray", "val", "NORMAL", filepath.Base(p)), b)
	}
	// Ignored without a warning: macOS debris and hidden files.
	good, _ := os.ReadFile(filepath.Join("..", "testdata", "formats", "gray.jpeg"))
	put(t, filepath.Join(root, "chest_xray", "val", "NORMAL", ".DS_Store"), []byte("junk"))
	put(t, filepath.Join(root, "chest_xray", "val", "PNEUMONIA", "._person1_virus_1.jpeg"), []byte("junk"))
	put(t, filepath.Join(root, "chest_xray", "val", "PNEUMONIA", "__MACOSX", "person2_virus_2.jpeg"), good)
	put(t, filepath.Join(root, "__MACOSX", "chest_xray", "val", "NORMAL", "x.jpeg"), good)

	for _, verify := range []bool{false, true} {
		var log, table bytes.Buffer
		cfg := DefaultManifestConfig()
		cfg.Data, cfg.Out, cfg.Logger, cfg.Verify = root, filepath.Join(t.TempDir(), "m.csv"), progress.Lines(&log, ""), verify
		var last progress.Event
		reports := 0
		cfg.Progress = func(e progress.Event) { last, reports = e, reports+1 }
		rep, err := MakeManifest(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// every file checked is reported, the 6 images and the 4 bad files; hidden ones are not files to check
		if want := (progress.Event{Task: "ingest", Done: 10, Total: 10, Unit: "img"}); last != want || reports != 10 {
			t.Errorf("progress: %d reports, the last %+v; want 10, the last %+v", reports, last, want)
		}
		if len(rep.Manifest.Entries) != 6 {
			t.Errorf("verify=%v: %d images, want the 6 good ones", verify, len(rep.Manifest.Entries))
		}
		for _, want := range []string{
			"skipped chest_xray/val/NORMAL/empty.jpeg: empty file",
			"skipped chest_xray/val/NORMAL/notes.jpeg: not a JPEG, PNG or DICOM image",
			"skipped chest_xray/val/NORMAL/tiny-16x16.jpeg: 16 x 16 pixels: smaller than 32 px",
			"skipped chest_xray/val/NORMAL/truncated.jpeg: truncated jpeg",
		} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("verify=%v: log lacks %q:\n%s", verify, want, log.String())
			}
		}
		if n := strings.Count(log.String(), "\n"); n != 4 {
			t.Errorf("verify=%v: %d warnings, want 4 (hidden files and __MACOSX are ignored silently):\n%s", verify, n, log.String())
		}
		rep.WriteTable(&table)
		if !strings.Contains(table.String(), "skipped: 4 (see log)") {
			t.Errorf("table lacks the skipped count:\n%s", table.String())
		}
	}
}

func TestIngestLayouts(t *testing.T) {
	j := tinyJPEG(t)
	kaggle := t.TempDir()
	makeKaggleTree(t, kaggle, map[string][2]int{"train": {5, 6}, "test": {2, 2}, "val": {1, 1}})
	plain := t.TempDir()
	put(t, filepath.Join(plain, "normal", "IM-0001-0001.jpeg"), j)
	put(t, filepath.Join(plain, "Pneumonia", "person1_virus_1.jpeg"), withComment(j, "x"))
	put(t, filepath.Join(plain, "Pneumonia", "sub", "person2_virus_2.png"), pngOf(t))
	cases := []struct {
		root   string
		layout string
		n      int
		first  string
	}{
		{kaggle, LayoutKaggle, 17, "chest_xray/test/NORMAL/"},
		{filepath.Join(kaggle, "chest_xray"), LayoutKaggle, 17, "test/NORMAL/"},
		{filepath.Join(kaggle, "chest_xray", "train"), LayoutPlain, 11, "NORMAL/"},
		{plain, LayoutPlain, 3, "Pneumonia/person1_virus_1.jpeg"},
	}
	for _, c := range cases {
		in, err := Ingest(c.root, IngestOptions{})
		if err != nil {
			t.Errorf("%s: %v", c.root, err)
			continue
		}
		if in.Layout != c.layout || len(in.Entries) != c.n || !strings.HasPrefix(in.Entries[0].Path, c.first) {
			t.Errorf("%s: layout %s, %d images, first %s; want %s, %d, %s...", c.root, in.Layout, len(in.Entries), in.Entries[0].Path, c.layout, c.n, c.first)
		}
		for _, e := range in.Entries {
			wantLabel := labels.Normal
			if strings.Contains(strings.ToLower(e.Path), "pneumonia/") {
				wantLabel = labels.Pneumonia
			}
			if e.Label != wantLabel || e.Patient != PatientID(e.Path) || len(e.SHA256) != 64 {
				t.Errorf("%s: %+v", c.root, e)
			}
		}
	}
}

func TestIngestLayoutErrors(t *testing.T) {
	j := tinyJPEG(t)
	noPneumonia := t.TempDir()
	put(t, filepath.Join(noPneumonia, "chest_xray", "train", "NORMAL", "IM-0001-0001.jpeg"), j)
	emptyClass := t.TempDir()
	put(t, filepath.Join(emptyClass, "NORMAL", "IM-0001-0001.jpeg"), j)
	put(t, filepath.Join(emptyClass, "PNEUMONIA", ".DS_Store"), j)
	onlyBad := t.TempDir()
	put(t, filepath.Join(onlyBad, "NORMAL", "IM-0001-0001.jpeg"), j)
	put(t, filepath.Join(onlyBad, "PNEUMONIA", "person1_virus_1.jpeg"), []byte("oops"))
	nothing := t.TempDir()
	put(t, filepath.Join(nothing, "images", "a.jpeg"), j)
	for _, c := range []struct {
		name, root string
		want       []string
	}{
		{"missing class folder", noPneumonia, []string{filepath.Join("chest_xray", "train") + ": no PNEUMONIA/ folder", "expected chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/"}},
		{"empty class", emptyClass, []string{filepath.Join(emptyClass, "PNEUMONIA") + ": no usable images", "expected"}},
		{"only bad files", onlyBad, []string{"PNEUMONIA: no usable images"}},
		{"no class folders", nothing, []string{"no NORMAL/ and PNEUMONIA/ folders", "expected"}},
		{"missing root", filepath.Join(nothing, "nope"), []string{"nope: not found", "expected"}},
	} {
		_, err := Ingest(c.root, IngestOptions{})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

func TestManifestRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	out := filepath.Join(dir, "runs", "m.csv")
	os.MkdirAll(filepath.Dir(out), 0o755)
	entries := []Entry{
		{Path: "NORMAL/IM-0001-0001.jpeg", Label: labels.Normal, Split: Test, Patient: "IM-0001", SHA256: strings.Repeat("a", 64)},
		{Path: "PNEUMONIA/a,b \"q\".jpeg", Label: labels.Pneumonia, Split: Train, Patient: "a,b", SHA256: strings.Repeat("b", 64)},
	}
	if err := WriteManifest(out, &Manifest{Root: data, Scheme: Patient, Seed: -3, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(raw), "path,label,split,patient,sha256,root,scheme,seed\nNORMAL/IM-0001-0001.jpeg,normal,test,IM-0001,"+
		strings.Repeat("a", 64)+",../data,patient,-3\n") {
		t.Errorf("manifest starts:\n%s", raw)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Root != data || m.Scheme != Patient || m.Seed != -3 || len(m.Entries) != 2 || m.Entries[1] != entries[1] {
		t.Errorf("read back %+v", m)
	}
	if got := m.Subset(Test); len(got) != 1 || got[0] != entries[0] {
		t.Errorf("Subset(test) = %+v", got)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	header := "path,label,split,patient,sha256\n"
	for _, c := range []struct{ name, body, want string }{
		{"bad header", "file,class\nx,normal\n", "line 1: header \"file,class\""},
		{"bad label", header + "a.jpeg,cat,train,p,\n", "line 2: unknown label \"cat\""},
		{"bad split", "# root: x\n" + header + "a.jpeg,normal,dev,p,\n", "line 3: unknown split \"dev\""},
		{"escaping path", header + "../a.jpeg,normal,train,p,\n", "must be relative to the data root"},
		{"duplicate", header + "a.jpeg,normal,train,p,\na.jpeg,normal,test,p,\n", "line 3: a.jpeg already listed on line 2"},
		{"empty", header, "no images listed"},
		{"short row", header + "a.jpeg,normal\n", "wrong number of fields"},
		{"rows disagree", strings.Join(manifestHeader, ",") + "\na.jpeg,normal,train,p,,data,paper,1\nb.jpeg,normal,test,p,,data,paper,2\n",
			"line 3: root, scheme, seed"},
	} {
		p := filepath.Join(dir, "bad.csv")
		os.WriteFile(p, []byte(c.body), 0o644)
		_, err := ReadManifest(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.csv") {
			t.Errorf("%s: error %v, want it to name bad.csv and say %q", c.name, err, c.want)
		}
		if c.name == "bad header" && !errors.Is(err, ErrNotManifest) {
			t.Errorf("%s: error %v, want ErrNotManifest", c.name, err)
		}
	}
}

func pngOf(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "formats", "gray8.png"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestManifestLegacyFormat: a manifest of the first format (root, scheme and seed in
// "# key: value" lines before a five-column header) reads as before.
func TestManifestLegacyFormat(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "old.csv")
	body := "# root: data\n# scheme: paper\n# seed: 42\npath,label,split,patient,sha256\n" +
		"NORMAL/IM-0001-0001.jpeg,normal,test,IM-0001,\nPNEUMONIA/person1_virus_1.jpeg,pneumonia,train,person1,\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Path: "NORMAL/IM-0001-0001.jpeg", Label: labels.Normal, Split: Test, Patient: "IM-0001"},
		{Path: "PNEUMONIA/person1_virus_1.jpeg", Label: labels.Pneumonia, Split: Train, Patient: "person1"},
	}
	if m.Root != filepath.Join(dir, "data") || m.Scheme != Paper || m.Seed != 42 || !slices.Equal(m.Entries, want) {
		t.Errorf("read %+v, want root %s, paper, seed 42, %+v", m, filepath.Join(dir, "data"), want)
	}
}

// TestManifestOpensInPandas: pandas.read_csv with no options reads a written manifest as
// the table it is: the eight columns, one row per image, every value as written.
func TestManifestOpensInPandas(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "split", "manifest.csv")
	os.MkdirAll(filepath.Dir(out), 0o755)
	entries := []Entry{
		{Path: "NORMAL/IM-0001-0001.jpeg", Label: labels.Normal, Split: Test, Patient: "IM-0001", SHA256: strings.Repeat("a", 64)},
		{Path: "PNEUMONIA/a,b \"q\".jpeg", Label: labels.Pneumonia, Split: Train, Patient: "a,b", SHA256: strings.Repeat("b", 64)},
		{Path: "PNEUMONIA/person2_virus_1.jpeg", Label: labels.Pneumonia, Split: Val, Patient: "person2", SHA256: strings.Repeat("c", 64)},
	}
	if err := WriteManifest(out, &Manifest{Root: filepath.Join(dir, "data"), Scheme: Paper, Seed: 42, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Columns []string         `json:"columns"`
		N       int              `json:"n"`
		Rows    []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(pyref.Run(t, pyref.Script("manifest_pandas.py"), out), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Columns, manifestHeader) || got.N != len(entries) || len(got.Rows) != len(entries) {
		t.Fatalf("pandas read columns %v and %d rows, want %v and %d", got.Columns, got.N, manifestHeader, len(entries))
	}
	for i, e := range entries {
		want := map[string]any{"path": e.Path, "label": labels.Default().Name(e.Label), "split": string(e.Split),
			"patient": e.Patient, "sha256": e.SHA256, "root": "../data", "scheme": "paper", "seed": float64(42)}
		for k, v := range want {
			if got.Rows[i][k] != v {
				t.Errorf("row %d %s: pandas read %v (%T), want %v", i, k, got.Rows[i][k], got.Rows[i][k], v)
			}
		}
	}
}
