package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
)

// Layout names the folder structure Ingest found.
const (
	LayoutKaggle = "kaggle" // chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/
	LayoutPlain  = "plain"  // {NORMAL,PNEUMONIA}/
)

// MinSide is the smallest width or height Ingest accepts; smaller images are skipped
// (preprocess.CheckSize, the rule serving applies too).
const MinSide = preprocess.MinSide

const expectedLayout = "expected chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/ or {NORMAL,PNEUMONIA}/ with JPEG, PNG or DICOM files"

// IngestOptions configures Ingest; the zero value is ready to use.
type IngestOptions struct {
	// Verify fully decodes every image. Without it Ingest reads each file's header and
	// checks that it ends with the format's end marker (JPEG EOI, PNG IEND), which finds
	// empty, non-image, truncated and too-small files at disk speed; a file damaged
	// in the middle is then found by the loader.
	Verify   bool
	Workers  int           // parallel readers; default GOMAXPROCS
	Progress progress.Func // called as files are checked; nil for none
	// Classes is the vocabulary to label with: labels.Default (the zero Set) from the
	// NORMAL/PNEUMONIA folders, or labels.Subtypes, which also reads bacterial or viral
	// from each PNEUMONIA file name (see SubtypeOf).
	Classes labels.Set
}

// Skip is a file Ingest left out, and why.
type Skip struct {
	Path   string // relative to the data root
	Reason string
}

// Ingested is a scanned tree: its images (Split still empty) and what was skipped.
type Ingested struct {
	Root    string     // absolute
	Layout  string     // LayoutKaggle or LayoutPlain
	Classes labels.Set // the vocabulary of the entries' labels
	Entries []Entry
	Skipped []Skip
}

// classDir is one NORMAL or PNEUMONIA folder.
type classDir struct {
	path  string // absolute
	label int
}

// Ingest scans a Kermany tree: the Kaggle layout (given the folder holding chest_xray/,
// chest_xray/ itself, or a folder with any of train/, test/, val/) or a plain
// {NORMAL,PNEUMONIA}/ folder. Folder names match in any case. Hidden files and folders
// (.DS_Store, ._*) and __MACOSX are ignored; files that are not a readable JPEG, PNG or
// DICOM image (recognised by content, not name) of at least MinSide pixels a side are
// skipped and listed. A missing class folder, or one
// with no usable image, is an error naming it.
func Ingest(root string, opt IngestOptions) (*Ingested, error) {
	classes, err := ingestClasses(opt.Classes)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data folder %s: not found; %s", root, expectedLayout)
	}
	layout, dirs, err := findLayout(abs)
	if err != nil {
		return nil, err
	}
	files, err := scanClassDirs(abs, dirs)
	if err != nil {
		return nil, err
	}
	checks := checkFiles(abs, files, opt)
	out := &Ingested{Root: abs, Layout: layout, Classes: classes}
	good := map[string]int{}
	var unnamed []string
	for i, f := range files {
		if r := checks[i].reason; r != "" {
			out.Skipped = append(out.Skipped, Skip{Path: f.rel, Reason: r})
			continue
		}
		label := f.label
		if !classes.IsDefault() && label == labels.Pneumonia {
			var ok bool
			if label, ok = SubtypeOf(f.rel); !ok {
				unnamed = append(unnamed, f.rel)
				continue
			}
		}
		good[path.Dir(f.rel)]++
		patient := PatientID(f.rel)
		if h := checks[i].patient; h != "" {
			patient = "\x00" + h // numbered below, once the entries are sorted
		}
		out.Entries = append(out.Entries, Entry{Path: f.rel, Label: label, Patient: patient, SHA256: checks[i].sum})
	}
	if len(unnamed) > 0 {
		sort.Strings(unnamed)
		return nil, fmt.Errorf("%d PNEUMONIA files (%s): %w; name them person<N>_bacteria_<M> or person<N>_virus_<M> as the Kermany release does, or use the classes %s",
			len(unnamed), strings.Join(unnamed[:min(3, len(unnamed))], ", "), ErrNoSubtype, labels.Default())
	}
	for _, cd := range dirs {
		rel, _ := filepath.Rel(abs, cd.path)
		if good[filepath.ToSlash(rel)] == 0 && !hasGoodBelow(good, filepath.ToSlash(rel)) {
			return nil, fmt.Errorf("%s: no usable images (%s)", cd.path, expectedLayout)
		}
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Path < out.Entries[j].Path })
	numberDICOMPatients(out.Entries)
	sort.Slice(out.Skipped, func(i, j int) bool { return out.Skipped[i].Path < out.Skipped[j].Path })
	return out, nil
}

// ErrNoSubtype is wrapped by Ingest when, labelling with labels.Subtypes, a PNEUMONIA
// file name says neither bacteria nor virus (or both).
var ErrNoSubtype = errors.New("file names say neither bacteria nor virus")

// SubtypeOf reads the cause the Kermany release writes in a pneumonia file's name:
// labels.Bacterial for person1_bacteria_1.jpeg, labels.Viral for person1_virus_6.jpeg
// (either word in any case, between separators). ok is false when the name has neither
// word or both.
func SubtypeOf(name string) (id int, ok bool) {
	base := strings.ToLower(filepath.Base(filepath.FromSlash(name)))
	words := strings.FieldsFunc(strings.TrimSuffix(base, filepath.Ext(base)), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	bact, virus := slices.Contains(words, "bacteria"), slices.Contains(words, "virus")
	switch {
	case bact && !virus:
		return labels.Bacterial, true
	case virus && !bact:
		return labels.Viral, true
	}
	return 0, false
}

// ErrClasses is wrapped when a class vocabulary is one the Kermany tree cannot label.
var ErrClasses = errors.New("classes the data cannot label")

// ingestClasses checks the vocabulary: the zero Set is Default.
func ingestClasses(c labels.Set) (labels.Set, error) {
	switch {
	case c.Len() == 0:
		return labels.Default(), nil
	case c.IsDefault() || c.Equal(labels.Subtypes()):
		return c, nil
	}
	return c, fmt.Errorf("%w: %s; use %s or %s", ErrClasses, c, labels.Default(), labels.Subtypes())
}

// hasGoodBelow reports an image in a subfolder of dir.
func hasGoodBelow(good map[string]int, dir string) bool {
	for d, n := range good {
		if n > 0 && strings.HasPrefix(d, dir+"/") {
			return true
		}
	}
	return false
}

// findLayout locates the class folders under root.
func findLayout(root string) (string, []classDir, error) {
	for depth := 0; depth < 3; depth++ {
		sub := subdirs(root)
		if hasClassFolder(sub) {
			dirs, err := classDirs(root, sub)
			return LayoutPlain, dirs, err
		}
		var splits []string
		for _, s := range []string{"train", "test", "val"} {
			if d := sub[s]; d != "" {
				splits = append(splits, d)
			}
		}
		if len(splits) > 0 {
			var all []classDir
			for _, s := range splits {
				dirs, err := classDirs(filepath.Join(root, s), subdirs(filepath.Join(root, s)))
				if err != nil {
					return "", nil, err
				}
				all = append(all, dirs...)
			}
			return LayoutKaggle, all, nil
		}
		if d := sub["chest_xray"]; d != "" {
			root = filepath.Join(root, d)
			continue
		}
		break
	}
	return "", nil, fmt.Errorf("%s: no NORMAL/ and PNEUMONIA/ folders found; %s", root, expectedLayout)
}

// hasClassFolder reports whether a folder listing (lower-cased names) holds a class folder.
func hasClassFolder(sub map[string]string) bool {
	for _, n := range labels.Default().Names() {
		if sub[n] != "" {
			return true
		}
	}
	return false
}

// classFolders are the Kaggle release's folder names by class id: the class names in capitals.
func classFolders() []string {
	names := labels.Default().Names()
	for i, n := range names {
		names[i] = strings.ToUpper(n)
	}
	return names
}

func classDirs(dir string, sub map[string]string) ([]classDir, error) {
	var out []classDir
	for label, name := range classFolders() {
		d := sub[strings.ToLower(name)]
		if d == "" {
			return nil, fmt.Errorf("%s: no %s/ folder; %s", dir, name, expectedLayout)
		}
		out = append(out, classDir{filepath.Join(dir, d), label})
	}
	return out, nil
}

// subdirs maps lower-cased names of the visible subfolders of dir to their real names.
func subdirs(dir string) map[string]string {
	out := map[string]string{}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		isDir := de.IsDir()
		if de.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, de.Name())); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir && !strings.HasPrefix(de.Name(), ".") && de.Name() != "__MACOSX" {
			out[strings.ToLower(de.Name())] = de.Name()
		}
	}
	return out
}

var (
	jpegEOI = []byte{0xFF, 0xD9}
	pngIEND = []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}
)

// numberDICOMPatients names the patients of DICOM files (Patient holding NUL + the hash
// of their PatientID) dicom-patient-1, -2, ... in the order of their first file: the
// manifest groups a patient's images without holding anything derived from the ID.
func numberDICOMPatients(entries []Entry) {
	names := map[string]string{}
	for i, e := range entries {
		if h, ok := strings.CutPrefix(e.Patient, "\x00"); ok {
			if names[h] == "" {
				names[h] = fmt.Sprintf("dicom-patient-%d", len(names)+1)
			}
			entries[i].Patient = names[h]
		}
	}
}

// checkImage returns the file's sha256 (and for DICOM the hash of its PatientID, "" when
// it has none), or why it must be skipped.
func checkImage(file string, verify bool) (sum, patient, reason string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", err.Error()
	}
	kind, w, h, err := preprocess.Config(b)
	if errors.Is(err, preprocess.ErrUnsupported) && isDICOMName(file) {
		return "", "", "a .dcm file that is not DICOM: no DICM marker at byte 128 and no dataset at byte 0"
	}
	if err != nil {
		return "", "", err.Error()
	}
	if err := preprocess.CheckSize(w, h); err != nil {
		return "", "", err.Error()
	}
	complete := true // DICOM: Config walked every element header already
	switch kind {
	case "jpeg":
		complete = bytes.HasSuffix(bytes.TrimRight(b, "\x00\r\n \t"), jpegEOI)
	case "png":
		complete = bytes.HasSuffix(b, pngIEND)
	}
	if verify || !complete { // an odd ending may be trailing data after a good image
		if _, err := preprocess.Decode(b); err != nil {
			if !complete {
				return "", "", fmt.Sprintf("truncated %s (no end marker): %v", kind, err)
			}
			return "", "", err.Error()
		}
	}
	if kind == "dicom" {
		patient, _ = dicom.PatientHash(b) // read without error by Config already
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), patient, ""
}

// isDICOMName reports a DICOM file name (.dcm, .dicom, .dic in any case).
func isDICOMName(file string) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".dcm", ".dicom", ".dic":
		return true
	}
	return false
}
