package dataset

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/labels"
)

// Subset is a manifest split: train, val or test.
type Subset string

const (
	Train Subset = "train"
	Val   Subset = "val"
	Test  Subset = "test"
)

// Subsets lists the splits in table order.
var Subsets = []Subset{Train, Val, Test}

// ParseSubset reads "train", "val" (or "validation") or "test".
func ParseSubset(s string) (Subset, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "train":
		return Train, nil
	case "val", "validation":
		return Val, nil
	case "test":
		return Test, nil
	}
	return "", fmt.Errorf("unknown split %q: use train, val or test", s)
}

// Entry is one image of a manifest.
type Entry struct {
	Path    string // relative to the data root, slash-separated
	Label   int    // class id in the manifest's Classes (0 is normal)
	Split   Subset // empty until Split assigns it
	Patient string // from the file name (PatientID)
	SHA256  string // hex digest of the file's bytes
}

// ErrChanged is wrapped by Entry.ReadFile when a file's bytes no longer match the sha256
// the manifest recorded: it was replaced or edited after the split.
var ErrChanged = errors.New("contents changed since the manifest was made (sha256 differs): restore the file or make a new manifest")

// ErrNotManifest is returned by ReadManifest for a CSV whose header is not a manifest's
// (make one with MakeManifest).
var ErrNotManifest = errors.New("not a split manifest")

// ReadFile reads the entry's file under root and checks it against the manifest's
// sha256 (when recorded). Every reader of manifest images goes through it, so a file
// replaced after the split is never trained on or evaluated silently.
func (e Entry) ReadFile(root string) ([]byte, error) {
	path := filepath.Join(root, filepath.FromSlash(e.Path))
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if e.SHA256 != "" {
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != e.SHA256 {
			return nil, fmt.Errorf("%s: %w", path, ErrChanged)
		}
	}
	return b, nil
}

// Manifest is the saved split: which image is in which subset. Train and evaluate read it,
// so every model sees the same test images.
//
// On disk it is a plain CSV (pandas.read_csv and spreadsheets read it unchanged) with
// the header path,label,split,patient,sha256,root,scheme,seed: label as a class name;
// root (the data root, relative to the manifest's folder), scheme and seed repeat on
// every row, so the one file stays self-contained. Manifests of the first format (the
// five columns after "# root:", "# scheme:", "# seed:" comment lines) are still read.
// The class vocabulary is the one of labels.Default or labels.Subtypes that holds every
// label name of the file (Default when both do).
type Manifest struct {
	Root    string     // data root that Entry paths are relative to (absolute after ReadManifest)
	Classes labels.Set // the labels' vocabulary; the zero Set means labels.Default
	Scheme  Scheme     // how the split was drawn (informational)
	Seed    int64
	Entries []Entry
}

var (
	manifestHeader = []string{"path", "label", "split", "patient", "sha256", "root", "scheme", "seed"}
	// legacyHeader is the first format's, whose root, scheme and seed were comment lines.
	legacyHeader = manifestHeader[:5]
)

// Subset returns the entries of one split, in manifest order.
func (m *Manifest) Subset(s Subset) []Entry {
	var out []Entry
	for _, e := range m.Entries {
		if e.Split == s {
			out = append(out, e)
		}
	}
	return out
}

// ClassSet is m.Classes, or labels.Default when it is unset.
func (m *Manifest) ClassSet() labels.Set {
	if m.Classes.Len() == 0 {
		return labels.Default()
	}
	return m.Classes
}

// Counts is the number of images per split and class id: Counts[Test][labels.Normal].
// Every split's slice has one count per class (at least two).
type Counts map[Subset][]int

// Count tallies entries by split and label.
func Count(entries []Entry) Counts {
	n := 2
	for _, e := range entries {
		n = max(n, e.Label+1)
	}
	c := Counts{}
	for _, s := range Subsets {
		c[s] = make([]int, n)
	}
	for _, e := range entries {
		if c[e.Split] == nil {
			c[e.Split] = make([]int, n)
		}
		c[e.Split][e.Label]++
	}
	return c
}

// PatientLeaks counts the patients whose images sit in more than one split. A random
// image-level split leaks them, and a model that has seen a patient in training looks
// better on that patient's test images than it is.
func PatientLeaks(entries []Entry) int {
	seen := map[string]Subset{}
	leaked := map[string]bool{}
	for _, e := range entries {
		if s, ok := seen[e.Patient]; ok && s != e.Split {
			leaked[e.Patient] = true
		}
		seen[e.Patient] = e.Split
	}
	return len(leaked)
}

var (
	personRe = regexp.MustCompile(`^(person\d+)_`)
	imRe     = regexp.MustCompile(`^((?:NORMAL2-)?IM-\d+)-`)
)

// PatientID parses the patient from a Kermany file name: "person123" from
// person123_bacteria_4.jpeg, "IM-0115" from IM-0115-0001.jpeg, "NORMAL2-IM-1427" from
// NORMAL2-IM-1427-0001.jpeg. Other names are their own patient (the name without
// extension).
func PatientID(name string) string {
	base := filepath.Base(filepath.FromSlash(name))
	if m := personRe.FindStringSubmatch(base); m != nil {
		return m[1]
	}
	if m := imRe.FindStringSubmatch(base); m != nil {
		return m[1]
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// WriteManifest writes m to path atomically (a temporary file in the same folder, then a
// rename), so a crash never leaves half a manifest. Entries are written in their order;
// Split returns them sorted by path.
func WriteManifest(path string, m *Manifest) error {
	root := m.Root
	if root != "" {
		if abs, err := filepath.Abs(root); err == nil {
			if dir, err := filepath.Abs(filepath.Dir(path)); err == nil {
				if rel, err := filepath.Rel(dir, abs); err == nil {
					root = rel
				}
			}
		}
		root = filepath.ToSlash(root)
	}
	seed := ""
	if m.Scheme != "" {
		seed = strconv.FormatInt(m.Seed, 10)
	}
	classes := m.ClassSet()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(manifestHeader)
	for _, e := range m.Entries {
		if e.Label < 0 || e.Label >= classes.Len() {
			return fmt.Errorf("write manifest %s: %s has label %d: want a class id 0..%d (%s)", path, e.Path, e.Label, classes.Len()-1, classes)
		}
		w.Write([]string{e.Path, classes.Name(e.Label), string(e.Split), e.Patient, e.SHA256, root, string(m.Scheme), seed})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// ReadManifest reads a manifest written by WriteManifest, in either format. Root is
// resolved against the manifest's folder (empty when the file gives none: set it before
// loading images).
// Errors name the file and line.
func ReadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	m, err := readManifest(f, path)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if m.Root != "" && !filepath.IsAbs(m.Root) {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		m.Root = filepath.Join(dir, filepath.FromSlash(m.Root))
	}
	return m, nil
}

func readManifest(r io.Reader, path string) (*Manifest, error) {
	br := bufio.NewReader(r)
	m, line, err := readLegacyComments(br)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("line %d: no header: %v", line+1, err)
	}
	h := strings.Join(header, ",")
	if h != strings.Join(manifestHeader, ",") && h != strings.Join(legacyHeader, ",") {
		return nil, fmt.Errorf("line %d: header %q, want %q: %w",
			line+1, h, strings.Join(manifestHeader, ","), ErrNotManifest)
	}
	cr.FieldsPerRecord = len(header)
	seen := map[string]int{}
	var names []string // label column, row by row
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		n, _ := cr.FieldPos(0)
		n += line
		e, err := parseEntry(rec)
		names, lines = append(names, rec[1]), append(lines, n)
		if err == nil && len(rec) > len(legacyHeader) {
			err = m.setRunColumns(rec[5], rec[6], rec[7], len(m.Entries) == 0)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if prev, dup := seen[e.Path]; dup {
			return nil, fmt.Errorf("line %d: %s already listed on line %d", n, e.Path, prev)
		}
		seen[e.Path] = n
		m.Entries = append(m.Entries, e)
	}
	if len(m.Entries) == 0 {
		return nil, errors.New("no images listed")
	}
	return m, m.setLabels(names, lines)
}

// setLabels picks the vocabulary of the label column (Default, else Subtypes) and sets
// every entry's class id in it.
func (m *Manifest) setLabels(names []string, lines []int) error {
	var firstErr error
	for _, set := range []labels.Set{labels.Default(), labels.Subtypes()} {
		ids := make([]int, len(names))
		var err error
		for i, n := range names {
			if ids[i], err = set.Parse(n); err != nil {
				err = fmt.Errorf("line %d: %w", lines[i], err)
				break
			}
		}
		if err == nil {
			m.Classes = set
			for i := range m.Entries {
				m.Entries[i].Label = ids[i]
			}
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return fmt.Errorf("%w (labels come from one vocabulary: %s or %s)", firstErr, labels.Default(), labels.Subtypes())
}

// readLegacyComments reads the first format's "# key: value" lines (root, scheme, seed)
// and returns how many lines it read; a manifest of the current format has none.
func readLegacyComments(br *bufio.Reader) (*Manifest, int, error) {
	m := &Manifest{}
	line := 0
	for {
		b, err := br.Peek(1)
		if err != nil || b[0] != '#' {
			return m, line, nil
		}
		s, err := br.ReadString('\n')
		line++
		key, val, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(s, "#")), ":")
		if ok {
			if err := m.setRun(strings.TrimSpace(key), strings.TrimSpace(val)); err != nil {
				return nil, line, fmt.Errorf("line %d: %v", line, err)
			}
		}
		if err != nil {
			return m, line, nil
		}
	}
}

// setRunColumns takes a row's root, scheme and seed: the first row sets them, and every
// other row must repeat them.
func (m *Manifest) setRunColumns(root, scheme, seed string, first bool) error {
	if first {
		if err := m.setRun("root", root); err != nil {
			return err
		}
		if err := m.setRun("scheme", scheme); err != nil {
			return err
		}
		return m.setRun("seed", seed)
	}
	want := ""
	if m.Scheme != "" {
		want = strconv.FormatInt(m.Seed, 10)
	}
	if root != m.Root || Scheme(scheme) != m.Scheme || seed != want {
		return fmt.Errorf("root, scheme, seed %q, %q, %q differ from the first row's %q, %q, %q", root, scheme, seed, m.Root, m.Scheme, want)
	}
	return nil
}

// setRun sets the split's root, scheme or seed from its text.
func (m *Manifest) setRun(key, val string) error {
	switch key {
	case "root":
		m.Root = val
	case "scheme":
		m.Scheme = Scheme(val)
	case "seed":
		if val == "" {
			return nil
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("seed %q is not an integer", val)
		}
		m.Seed = n
	}
	return nil
}

// parseEntry reads a row's path, split, patient and sha256; setLabels reads the labels
// once the whole column is known.
func parseEntry(rec []string) (Entry, error) {
	split, err := ParseSubset(rec[2])
	if err != nil {
		return Entry{}, err
	}
	if !filepath.IsLocal(filepath.FromSlash(rec[0])) {
		return Entry{}, fmt.Errorf("path %q must be relative to the data root", rec[0])
	}
	return Entry{Path: rec[0], Split: split, Patient: rec[3], SHA256: rec[4]}, nil
}
