package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/labels"
)

// kaggleCounts are the per-folder image counts of the Kaggle release (5856 images).
var kaggleCounts = map[string][2]int{"train": {1341, 3875}, "test": {234, 390}, "val": {8, 8}}

// tinyJPEG is a valid 32 x 32 grayscale JPEG; comment segments make copies unique.
func tinyJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withComment inserts a COM segment after SOI: the same image, different bytes.
func withComment(j []byte, c string) []byte {
	seg := []byte{0xFF, 0xFE, byte((len(c) + 2) >> 8), byte(len(c) + 2)}
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	out = append(out, c...)
	return append(out, j[2:]...)
}

// imagesPerPatient draws how many images a patient has, shaped like the real Kaggle train
// split (normal: 91 % one image; pneumonia: 1 to 30, half with one or two).
func imagesPerPatient(r *rand.Rand, label int) int {
	if label == labels.Normal {
		switch v := r.IntN(100); {
		case v < 91:
			return 1
		case v < 98:
			return 2
		default:
			return 3
		}
	}
	weights := []int{630, 561, 191, 85, 43, 44, 29, 19, 12, 6, 5, 4} // 1..12 images
	v := r.IntN(1629)
	for k, w := range weights {
		if v < w {
			return k + 1
		}
		v -= w
	}
	return 1
}

// makeKaggleTree writes chest_xray/{split}/{NORMAL,PNEUMONIA}/ under root with the given
// per-folder counts, Kermany-style names (personN_bacteria_M, IM-XXXX-YYYY,
// NORMAL2-IM-XXXX-YYYY) with several images per patient, and tiny unique JPEGs.
func makeKaggleTree(t testing.TB, root string, counts map[string][2]int) {
	t.Helper()
	j := tinyJPEG(t)
	r := rand.New(rand.NewPCG(1, 2))
	patient, image := 0, 0
	for _, split := range []string{"train", "test", "val"} {
		for label, folder := range classFolders() {
			dir := filepath.Join(root, "chest_xray", split, folder)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for n := counts[split][label]; n > 0; {
				patient++
				k := min(imagesPerPatient(r, label), n)
				kind := []string{"bacteria", "virus"}[r.IntN(2)]
				normal2 := r.IntN(3) == 0
				for m := 1; m <= k; m++ {
					image++
					var name string
					switch {
					case label == labels.Pneumonia:
						name = fmt.Sprintf("person%d_%s_%d.jpeg", patient, kind, image)
					case normal2:
						name = fmt.Sprintf("NORMAL2-IM-%04d-%04d.jpeg", patient, m)
					default:
						name = fmt.Sprintf("IM-%04d-%04d.jpeg", patient, m)
					}
					if err := os.WriteFile(filepath.Join(dir, name), withComment(j, name), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				n -= k
			}
		}
	}
}

// leaks counts patients in more than one split, independently of PatientLeaks.
func leaks(entries []Entry) int {
	splits := map[string]map[Subset]bool{}
	for _, e := range entries {
		if splits[e.Patient] == nil {
			splits[e.Patient] = map[Subset]bool{}
		}
		splits[e.Patient][e.Split] = true
	}
	n := 0
	for _, s := range splits {
		if len(s) > 1 {
			n++
		}
	}
	return n
}

func TestPaperSplitFullSize(t *testing.T) {
	root := t.TempDir()
	makeKaggleTree(t, root, kaggleCounts)
	out := filepath.Join(t.TempDir(), "manifest.csv")
	cfg := DefaultManifestConfig()
	cfg.Data, cfg.Out = root, out
	rep, err := MakeManifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 5856 {
		t.Fatalf("manifest has %d images, want 5856", len(m.Entries))
	}
	// The paper: test 345 normal + 815 pneumonia, validation 248 + 692, training 990 + 2766.
	want := map[Subset][2]int{Test: {345, 815}, Val: {248, 692}, Train: {990, 2766}}
	got := map[Subset][2]int{}
	for _, e := range m.Entries {
		c := got[e.Split]
		c[e.Label]++
		got[e.Split] = c
	}
	for s, w := range want {
		if got[s] != w {
			t.Errorf("%s: %v images (normal, pneumonia), want %v", s, got[s], w)
		}
	}
	if rep.Leaks != leaks(m.Entries) || rep.Leaks == 0 {
		t.Errorf("report says %d patients leak, manifest has %d (a random split of this tree must leak some)", rep.Leaks, leaks(m.Entries))
	}
	if m.Root != root {
		t.Errorf("manifest root %q, want %q", m.Root, root)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, line := range []string{"test         345        815    1160", "total       1583       4273    5856", "skipped: 0"} {
		if !strings.Contains(table.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, table.String())
		}
	}
	t.Logf("\n%s", table.String())

	// Patient scheme on the same tree: no patient in two splits, shares near 20 % / 16 %.
	cfg.Split.Scheme, cfg.Out = Patient, filepath.Join(t.TempDir(), "patient.csv")
	prep, err := MakeManifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := leaks(prep.Manifest.Entries); n != 0 || prep.Leaks != 0 {
		t.Errorf("patient scheme leaks %d patients (report %d)", n, prep.Leaks)
	}
	if prep.PaperLeaks != rep.Leaks {
		t.Errorf("patient report says paper would leak %d, the paper manifest leaks %d", prep.PaperLeaks, rep.Leaks)
	}
	for label, n := range []int{1583, 4273} {
		test := float64(prep.Counts[Test][label]) / float64(n)
		val := float64(prep.Counts[Val][label]) / float64(n)
		if math.Abs(test-0.2) > 0.01 || math.Abs(val-0.16) > 0.01 {
			t.Errorf("%s: patient scheme test share %.3f, val share %.3f; want about 0.2 and 0.16", labels.Default().Name(label), test, val)
		}
	}
}

// entriesOf makes n normal and p pneumonia entries (no files: Split reads only names).
func entriesOf(n, p int) []Entry {
	var out []Entry
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("NORMAL/IM-%04d-0001.jpeg", i)
		out = append(out, Entry{Path: name, Label: labels.Normal, Patient: PatientID(name)})
	}
	for i := 0; i < p; i++ {
		name := fmt.Sprintf("PNEUMONIA/person%d_bacteria_%d.jpeg", i/3, i)
		out = append(out, Entry{Path: name, Label: labels.Pneumonia, Patient: PatientID(name)})
	}
	return out
}

func TestPaperSplitProportional(t *testing.T) {
	// Expected: round(n * paper share) per class, written out from the rule in the doc.
	cases := []struct {
		normal, pneumonia int
		test, val         [2]int
	}{
		{79, 82, [2]int{17, 16}, [2]int{12, 13}},         // 79*345/1583 = 17.2, 82*815/4273 = 15.6; 79*248/1583 = 12.4, 82*692/4273 = 13.3
		{1341, 3875, [2]int{292, 739}, [2]int{210, 628}}, // the Kaggle train folder
		{10, 30, [2]int{2, 6}, [2]int{2, 5}},             // 2.18, 5.72; 1.57, 4.86
		{1, 1, [2]int{0, 0}, [2]int{0, 0}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d+%d", c.normal, c.pneumonia), func(t *testing.T) {
			for label, n := range []int{c.normal, c.pneumonia} {
				pc := [][3]float64{{1583, 345, 248}, {4273, 815, 692}}[label]
				if r := int(math.Floor(float64(n)*pc[1]/pc[0] + 0.5)); r != c.test[label] {
					t.Fatalf("case table wrong: %s test %d, rule gives %d", labels.Default().Name(label), c.test[label], r)
				}
			}
			out, err := Split(entriesOf(c.normal, c.pneumonia), SplitOptions{Scheme: Paper, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			got := Count(out)
			if !slices.Equal(got[Test], c.test[:]) || !slices.Equal(got[Val], c.val[:]) {
				t.Errorf("test %v val %v, want %v %v", got[Test], got[Val], c.test, c.val)
			}
			if tr := got[Train]; tr[0] != c.normal-c.test[0]-c.val[0] || tr[1] != c.pneumonia-c.test[1]-c.val[1] {
				t.Errorf("train %v does not hold the rest", tr)
			}
		})
	}
}

func TestStratifiedSplit(t *testing.T) {
	out, err := Split(entriesOf(101, 257), SplitOptions{Scheme: Stratified, Seed: 3, TestFraction: 0.25, ValFraction: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	// normal: test round(25.25) = 25, val round(76 * 0.1) = 8; pneumonia: 64 (64.25), 19 (19.3).
	got := Count(out)
	if !slices.Equal(got[Test], []int{25, 64}) || !slices.Equal(got[Val], []int{8, 19}) || !slices.Equal(got[Train], []int{68, 174}) {
		t.Errorf("counts %v", got)
	}
}

func TestSplitDeterministic(t *testing.T) {
	in := entriesOf(200, 500)
	shuffled := append([]Entry(nil), in...)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	dir := t.TempDir()
	write := func(name string, entries []Entry, opt SplitOptions) []byte {
		out, err := Split(entries, opt)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := WriteManifest(p, &Manifest{Root: dir, Scheme: opt.Scheme, Seed: opt.Seed, Entries: out}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, scheme := range []Scheme{Paper, Stratified, Patient} {
		opt := DefaultSplitOptions()
		opt.Scheme = scheme
		a := write("a.csv", in, opt)
		b := write("b.csv", shuffled, opt)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: same seed, different manifest bytes", scheme)
		}
		opt.Seed++
		if c := write("c.csv", in, opt); bytes.Equal(a[bytes.IndexByte(a, 'p'):], c[bytes.IndexByte(c, 'p'):]) {
			t.Errorf("%s: seeds %d and %d give the same split", scheme, opt.Seed-1, opt.Seed)
		}
	}
}

func TestPatientSplitNoLeaks(t *testing.T) {
	in := entriesOf(300, 900)
	for seed := int64(0); seed < 5; seed++ {
		out, err := Split(in, SplitOptions{Scheme: Patient, Seed: seed, TestFraction: 0.2, ValFraction: 0.2})
		if err != nil {
			t.Fatal(err)
		}
		if n := leaks(out); n != 0 {
			t.Errorf("seed %d: %d patients in two splits", seed, n)
		}
		paper, _ := Split(in, SplitOptions{Scheme: Paper, Seed: seed})
		if leaks(paper) == 0 || PatientLeaks(paper) != leaks(paper) {
			t.Errorf("seed %d: paper split leaks %d patients, PatientLeaks says %d", seed, leaks(paper), PatientLeaks(paper))
		}
	}
}

func TestEpochOrder(t *testing.T) {
	a, b := EpochOrder(100, 5, 3), EpochOrder(100, 5, 3)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("same (seed, epoch), different order")
	}
	if fmt.Sprint(a) == fmt.Sprint(EpochOrder(100, 5, 4)) || fmt.Sprint(a) == fmt.Sprint(EpochOrder(100, 6, 3)) {
		t.Error("order does not change with the epoch or the seed")
	}
	seen := make([]bool, 100)
	for _, i := range a {
		if seen[i] {
			t.Fatalf("%d twice", i)
		}
		seen[i] = true
	}
	// Uniformity: over many epochs each image lands in the first position about equally.
	first := make([]int, 10)
	for e := 0; e < 20000; e++ {
		first[EpochOrder(10, 1, e)[0]]++
	}
	for i, n := range first {
		if n < 1800 || n > 2200 {
			t.Errorf("image %d first in %d of 20000 epochs, want about 2000", i, n)
		}
	}
}

func TestPatientID(t *testing.T) {
	for name, want := range map[string]string{
		"train/PNEUMONIA/person1_virus_6.jpeg": "person1",
		"person1430_bacteria_3695.jpeg":        "person1430",
		"IM-0115-0001.jpeg":                    "IM-0115",
		"test/NORMAL/IM-0640-0001-0001.jpeg":   "IM-0640",
		"NORMAL2-IM-1427-0001.jpeg":            "NORMAL2-IM-1427",
		"scan 7.png":                           "scan 7",
		"personX_virus_1.jpeg":                 "personX_virus_1",
	} {
		if got := PatientID(name); got != want {
			t.Errorf("PatientID(%q) = %q, want %q", name, got, want)
		}
	}
}
