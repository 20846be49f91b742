package dataset

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/xraylab/xray/labels"
)

// Scheme is how Split draws the test and validation images.
type Scheme string

const (
	// Paper pools every image and draws, per class, the paper's test and validation
	// counts at random (scaled to the tree's size; see the package doc).
	Paper Scheme = "paper"
	// Stratified takes TestFraction of each class for test, then ValFraction of the rest
	// of each class for validation.
	Stratified Scheme = "stratified"
	// Patient is Stratified over whole patients: no patient is in two splits.
	Patient Scheme = "patient"
	// Kaggle keeps the Kaggle release's own folders: test/ is the test split (the
	// literature's 624-image benchmark), validation is ValFraction of train/ (with val/
	// folded in) drawn by whole patients, unless ValFromFolder keeps val/ as validation.
	Kaggle Scheme = "kaggle"
)

// ParseScheme reads a scheme name.
func ParseScheme(s string) (Scheme, error) {
	switch Scheme(s) {
	case Paper, Stratified, Patient, Kaggle:
		return Scheme(s), nil
	}
	return "", fmt.Errorf("unknown split scheme %q: use paper, stratified, patient or kaggle", s)
}

// The paper's split of the 5856 Kermany images, per class: total, test, validation
// (training is the rest: 990 normal + 2766 pneumonia). Bacterial and viral, parts of
// pneumonia, take pneumonia's shares.
var paperCounts = [2]struct{ total, test, val int }{
	labels.Normal:    {1583, 345, 248},
	labels.Pneumonia: {4273, 815, 692},
}

// numClasses is the number of class ids the entries use (at least two): label 0 is
// normal in every vocabulary, and the others are kinds of pneumonia.
func numClasses(entries []Entry) int {
	n := 2
	for _, e := range entries {
		n = max(n, e.Label+1)
	}
	return n
}

// SplitOptions configures Split. The zero Seed is a valid seed.
type SplitOptions struct {
	Scheme       Scheme
	Seed         int64
	TestFraction float64 // Stratified and Patient: share of each class for test
	ValFraction  float64 // Stratified, Patient, Kaggle: share of the non-test rest for validation
	// ValFromFolder (Kaggle only) keeps the val/ folder as the validation split instead of
	// folding it into train/ and drawing validation patients from train/.
	ValFromFolder bool
}

// DefaultSplitOptions is the paper's scheme with seed 42 (fractions 0.2 and 0.2 apply to
// the other schemes: the paper holds out 20 % for test and 20 % of the rest for
// validation).
func DefaultSplitOptions() SplitOptions {
	return SplitOptions{Scheme: Paper, Seed: 42, TestFraction: 0.2, ValFraction: 0.2}
}

// Validate reports the first setting Split would refuse.
func (o SplitOptions) Validate() error {
	if _, err := ParseScheme(string(o.Scheme)); err != nil {
		return err
	}
	if o.ValFromFolder && o.Scheme != Kaggle {
		return fmt.Errorf("validation from the val/ folder needs the kaggle scheme, not %s", o.Scheme)
	}
	if o.Scheme != Paper {
		if !(o.TestFraction >= 0 && o.TestFraction < 1) {
			return fmt.Errorf("test fraction %v out of range: use 0 <= f < 1", o.TestFraction)
		}
		if !(o.ValFraction >= 0 && o.ValFraction < 1) {
			return fmt.Errorf("validation fraction %v out of range: use 0 <= f < 1", o.ValFraction)
		}
	}
	return nil
}

// roundDiv is round(a/b) for a, b >= 0, halves up, in integers (no float surprises).
func roundDiv(a, b int) int { return (2*a + b) / (2 * b) }

// roundFrac is round(n*f), halves up.
func roundFrac(n int, f float64) int {
	v := int(float64(n)*f + 0.5)
	return min(max(v, 0), n)
}

// targets returns how many of n images of a class go to test and validation.
func (o SplitOptions) targets(label, n int) (test, val int) {
	if o.Scheme == Paper {
		pc := paperCounts[min(label, labels.Pneumonia)]
		return roundDiv(n*pc.test, pc.total), roundDiv(n*pc.val, pc.total)
	}
	test = roundFrac(n, o.TestFraction)
	return test, roundFrac(n-test, o.ValFraction)
}

// Split assigns every entry to train, val or test and returns a copy sorted by path. The
// result depends only on the entries' paths and labels and on opt: the same tree and seed
// give the same manifest, byte for byte, whatever order the files were listed in.
func Split(entries []Entry, opt SplitOptions) ([]Entry, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	out := append([]Entry(nil), entries...)
	for i := range out {
		out[i].Split = ""
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	for i := 1; i < len(out); i++ {
		if out[i].Path == out[i-1].Path {
			return nil, fmt.Errorf("split: %s listed twice", out[i].Path)
		}
	}
	if opt.Scheme == Kaggle {
		return out, splitKaggle(out, opt)
	}
	for label := range numClasses(out) {
		if opt.Scheme == Patient {
			splitPatients(out, label, opt)
			continue
		}
		var idx []int
		for i, e := range out {
			if e.Label == label {
				idx = append(idx, i)
			}
		}
		test, val := opt.targets(label, len(idx))
		for k, p := range permutation(len(idx), opt.Seed, uint64(label)) {
			out[idx[p]].Split = subsetFor(k, test, val)
		}
	}
	return out, nil
}

// splitKaggle assigns by folder: test/ is Test, val/ is Val with ValFromFolder and
// otherwise pooled with train/, from which validation patients are drawn per class.
func splitKaggle(out []Entry, opt SplitOptions) error {
	tests := 0
	for i := range out {
		f, ok := kaggleFolder(out[i].Path)
		if !ok {
			return fmt.Errorf("kaggle split: %s is not in a train/, test/ or val/ folder: "+
				"the kaggle scheme needs chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/; use another scheme for a plain tree", out[i].Path)
		}
		switch {
		case f == Test:
			out[i].Split, tests = Test, tests+1
		case f == Val && opt.ValFromFolder:
			out[i].Split = Val
		}
	}
	if tests == 0 {
		return errors.New("kaggle split: no images in a test/ folder: the kaggle scheme keeps test/ as the test split")
	}
	if opt.ValFromFolder {
		for i := range out {
			if out[i].Split == "" {
				out[i].Split = Train
			}
		}
		return nil
	}
	opt.TestFraction = 0
	for label := range numClasses(out) {
		splitPatients(out, label, opt)
	}
	return nil
}

// kaggleFolder is the Kaggle folder (train, test or val) an image path lies in: the first
// path element of that name, in any case, that is followed by a class folder.
func kaggleFolder(path string) (Subset, bool) {
	parts := strings.Split(strings.ToLower(path), "/")
	for i := 0; i+2 < len(parts); i++ {
		if _, ok := labels.Default().Index(parts[i+1]); !ok {
			continue
		}
		switch parts[i] {
		case "train":
			return Train, true
		case "test":
			return Test, true
		case "val":
			return Val, true
		}
	}
	return "", false
}

func subsetFor(k, test, val int) Subset {
	switch {
	case k < test:
		return Test
	case k < test+val:
		return Val
	}
	return Train
}

// splitPatients assigns the patients whose images are mostly of class label (ties go to
// the lower id, normal first): patients in
// seeded random order fill test until it holds its share of the class's images, then
// validation, then the rest train. Shares can overshoot by part of one patient's images.
// Entries whose Split is already set (Kaggle's test folder) are left alone.
func splitPatients(out []Entry, label int, opt SplitOptions) {
	byPatient := map[string][]int{}
	votes := map[string][]int{} // images per class
	nc := numClasses(out)
	for i, e := range out {
		if e.Split != "" {
			continue
		}
		byPatient[e.Patient] = append(byPatient[e.Patient], i)
		if votes[e.Patient] == nil {
			votes[e.Patient] = make([]int, nc)
		}
		votes[e.Patient][e.Label]++
	}
	var patients []string
	n := 0
	for p, idx := range byPatient {
		major := 0
		for c, v := range votes[p] {
			if v > votes[p][major] {
				major = c
			}
		}
		if major == label {
			patients = append(patients, p)
			n += len(idx)
		}
	}
	sort.Strings(patients)
	test, val := opt.targets(label, n)
	var inTest, inVal int
	for _, k := range permutation(len(patients), opt.Seed, uint64(label)) {
		idx := byPatient[patients[k]]
		s := Train
		switch {
		case inTest < test:
			s, inTest = Test, inTest+len(idx)
		case inVal < val:
			s, inVal = Val, inVal+len(idx)
		}
		for _, i := range idx {
			out[i].Split = s
		}
	}
}

// permutation is a seeded Fisher-Yates shuffle of 0..n-1 on PCG-DXSM (math/rand/v2's
// specified generator) with our own unbiased bounded draw, so the order cannot change
// with a Go release. stream separates independent uses of one seed.
func permutation(n int, seed int64, stream uint64) []int {
	src := rand.NewPCG(uint64(seed), 0x9E3779B97F4A7C15^stream)
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(bounded(src, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// bounded draws uniformly from [0, n) (Lemire's multiply-shift with rejection).
func bounded(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// EpochOrder is the order in which a shuffling Loader visits n images in an epoch: a
// permutation that depends only on (n, seed, epoch), so a training run resumed at epoch k
// sees exactly the batches it would have seen.
func EpochOrder(n int, seed int64, epoch int) []int {
	return permutation(n, seed, 1<<32+uint64(epoch))
}
