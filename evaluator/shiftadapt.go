package evaluator

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"iter"
	"os"
	"path/filepath"
	"slices"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
)

// The shift report with adaptation: a hospital adapts the model on its own unlabeled
// archive (xray adapt) and then reads new X-rays from the same scanner. For each variant
// (clean and every perturbation), the model is adapted by savedmodels.AdaptImages on a
// fixed sample of another split's images under the same perturbation, and the evaluated
// split under that perturbation is scored by the unadapted and the adapted model. One
// adapted SavedModel exists at a time, in a temporary directory removed after its row.

// DefaultShiftAdaptImages is ShiftAdapt.Images's default: enough for stable statistics,
// few enough that 22 adaptations stay a fraction of the report's time.
const DefaultShiftAdaptImages = 256

// ShiftAdapt asks Shift to adapt the model to each variant before scoring it.
type ShiftAdapt struct {
	// Split of the same manifest whose images are adapted on (train, val or test; labels
	// unused); it must not be the evaluated split.
	Split string
	// Mode is savedmodels.AdaptLayerwise ("" too) or savedmodels.AdaptBatch.
	Mode string
	// Images: at most this many of Split's images, a fixed sample (the ones with the
	// smallest FNV-1a hash of their manifest path, so every variant and run adapts on
	// the same images whatever the manifest's order); 0: DefaultShiftAdaptImages; at
	// least savedmodels.MinAdaptImages.
	Images int
	// BatchSize is images per adaptation batch (savedmodels.AdaptOptions.BatchSize).
	BatchSize int
	// SessionConfig is the adaptation session's serialized ConfigProto; nil: defaults.
	SessionConfig []byte
	// TempDir holds the adapted SavedModel being scored; "": os.TempDir().
	TempDir string
}

// ShiftAdaptation says in the report how each variant's model was adapted.
type ShiftAdaptation struct {
	Mode      string   `json:"mode"`
	Split     string   `json:"split"`
	Images    int      `json:"images"`
	BatchSize int      `json:"batch_size"`
	Paths     []string `json:"paths"` // the images adapted on, in the order fed, relative to the data root
}

// ShiftAdapt's Field names in its *tfgraph.ConfigError.
const (
	FieldAdaptSplit  = "AdaptSplit"
	FieldAdaptImages = "AdaptImages"
)

// adaptSample checks a and returns the images to adapt on, in the order fed.
func (in ShiftInput) adaptSample(a ShiftAdapt) (sample []dataset.Entry, root, from string, err error) {
	split := cmp.Or(in.Split, string(dataset.Test))
	switch {
	case a.Split == "":
		return nil, "", "", &tfgraph.ConfigError{Field: FieldAdaptSplit, Reason: "name the split to adapt on (train, val or test)"}
	case a.Split == AllImages:
		return nil, "", "", &tfgraph.ConfigError{Field: FieldAdaptSplit, Value: a.Split, Reason: "adapt on one split of the manifest (train, val or test), not the evaluated images too"}
	case split == AllImages:
		return nil, "", "", &tfgraph.ConfigError{Field: FieldAdaptSplit, Value: a.Split, Reason: "the evaluated split is all images, so no split is disjoint from it: evaluate one split (e.g. test) and adapt on another"}
	case a.Split == split:
		return nil, "", "", &tfgraph.ConfigError{Field: FieldAdaptSplit, Value: a.Split, Reason: "is the evaluated split: adapt on another split (e.g. val) so the scores are on images the model was not adapted on"}
	case a.Images != 0 && a.Images < savedmodels.MinAdaptImages:
		return nil, "", "", &tfgraph.ConfigError{Field: FieldAdaptImages, Value: a.Images, Reason: fmt.Sprintf("give at least %d images", savedmodels.MinAdaptImages)}
	}
	ain := in.SavedModelInput
	ain.Split = a.Split
	entries, root, from, err := ain.images()
	if err != nil {
		return nil, "", "", fmt.Errorf("adapt split: %w", err)
	}
	if len(entries) < savedmodels.MinAdaptImages {
		return nil, "", "", fmt.Errorf("adapt split %s of %s has %d images: %w", a.Split, from, len(entries), savedmodels.ErrTooFewImages)
	}
	return sampleEntries(entries, cmp.Or(a.Images, DefaultShiftAdaptImages)), root, from, nil
}

// sampleEntries is the n entries with the smallest FNV-1a hash of their path (ties by
// path), in manifest order: a spread sample however the manifest is ordered.
func sampleEntries(entries []dataset.Entry, n int) []dataset.Entry {
	if n >= len(entries) {
		return entries
	}
	type keyed struct {
		i int
		h uint64
	}
	ks := make([]keyed, len(entries))
	for i, e := range entries {
		h := fnv.New64a()
		h.Write([]byte(e.Path))
		ks[i] = keyed{i, h.Sum64()}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(entries[a.i].Path, entries[b.i].Path))
	})
	idx := make([]int, n)
	for k := range idx {
		idx[k] = ks[k].i
	}
	slices.Sort(idx)
	out := make([]dataset.Entry, n)
	for k, i := range idx {
		out[k] = entries[i]
	}
	return out
}

// shiftAdapted is Shift with in.Adapt: per variant, adapt, then score both models.
func shiftAdapted(ctx context.Context, in ShiftInput, perts []perturb.Perturbation) (*ShiftReport, error) {
	a := *in.Adapt
	sample, sampleRoot, sampleFrom, err := in.adaptSample(a)
	if err != nil {
		return nil, err
	}
	entries, root, from, err := in.images()
	if err != nil {
		return nil, err
	}
	model, err := savedmodels.Load(in.SavedModel, savedmodels.Options{MaxDelay: -1, DICOMWindow: in.DICOMWindow})
	if err != nil {
		return nil, err
	}
	defer model.Close()
	tmp, err := os.MkdirTemp(a.TempDir, "xray-shift-adapt-")
	if err != nil {
		return nil, fmt.Errorf("shift: %w", err)
	}
	defer os.RemoveAll(tmp)
	names := variantNames(perts)
	rep := &ShiftReport{Model: model.Metadata().Arch, Split: in.Split, Source: in.SavedModel,
		Records: map[string][]Record{}, AdaptedRecords: map[string][]Record{}}
	task := progress.Event{Task: "shift " + in.Split + ", adapted", Total: int64(len(entries) * len(names)), Unit: "img"}
	for v, name := range names {
		var p *perturb.Perturbation
		if v > 0 {
			p = &perts[v-1]
		}
		dir := filepath.Join(tmp, fmt.Sprintf("%02d", v))
		ad, err := savedmodels.AdaptImages(ctx, in.SavedModel, dir, adaptImages(model, sample, sampleRoot, sampleFrom, p), savedmodels.AdaptOptions{
			Mode: a.Mode, BatchSize: a.BatchSize, SessionConfig: a.SessionConfig, DICOMWindow: in.DICOMWindow,
			Progress: variantProgress(in.Progress, name, v, len(names)),
		})
		if err != nil {
			return nil, fmt.Errorf("shift %s: %w", name, err)
		}
		if rep.Adaptation == nil {
			rep.Adaptation = &ShiftAdaptation{Mode: ad.Mode, Split: a.Split, Images: ad.Images, BatchSize: ad.BatchSize}
			for _, e := range sample {
				rep.Adaptation.Paths = append(rep.Adaptation.Paths, e.Path)
			}
		}
		err = scoreAdapted(ctx, rep, model, dir, in, variant{name, p, entries, root, from}, &task)
		if rmErr := os.RemoveAll(dir); err == nil && rmErr != nil {
			err = fmt.Errorf("shift: %w", rmErr)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := rep.score(perts); err != nil {
		return nil, err
	}
	return rep, nil
}

// variant is one row's perturbation (nil: clean) and the images it scores.
type variant struct {
	name    string
	p       *perturb.Perturbation
	entries []dataset.Entry
	root    string
	from    string
}

// scoreAdapted predicts the variant's images with the model and with the adapted one in
// dir, into rep's records.
func scoreAdapted(ctx context.Context, rep *ShiftReport, model *savedmodels.Model, dir string, in ShiftInput, v variant, task *progress.Event) error {
	adapted, err := savedmodels.Load(dir, savedmodels.Options{MaxDelay: -1, DICOMWindow: in.DICOMWindow})
	if err != nil {
		return fmt.Errorf("shift %s: load the adapted model: %w", v.name, err)
	}
	defer adapted.Close()
	bs := cmp.Or(max(in.BatchSize, 0), savedmodels.DefaultMaxBatch)
	for start := 0; start < len(v.entries); start += bs {
		chunk := v.entries[start:min(start+bs, len(v.entries))]
		imgs, err := variantChunk(model, chunk, v.root, v.from, v.p)
		if err != nil {
			return err
		}
		for _, m := range []struct {
			model *savedmodels.Model
			recs  map[string][]Record
		}{{model, rep.Records}, {adapted, rep.AdaptedRecords}} {
			preds, err := m.model.Predict(ctx, imgs...)
			if err != nil {
				return err
			}
			for i, p := range preds {
				if p.Err != nil {
					return fmt.Errorf("%s (%s): %w", chunk[i].Path, v.name, p.Err)
				}
				m.recs[v.name] = append(m.recs[v.name], binaryRecord(chunk[i].Path, chunk[i].Label, p.Probabilities))
			}
		}
		task.Done += int64(len(chunk))
		in.Progress.Report(*task)
	}
	return nil
}

// variantChunk decodes a chunk and applies p (nil: none), as Shift does.
func variantChunk(model *savedmodels.Model, chunk []dataset.Entry, root, from string, p *perturb.Perturbation) ([]image.Image, error) {
	imgs, err := decodeChunk(model, chunk, root, from)
	if err != nil || p == nil {
		return imgs, err
	}
	return perturbChunk(imgs, chunk, *p)
}

// adaptImages streams the sample decoded and perturbed, one chunk in memory at a time;
// a read error ends the stream (the adaptation fails with it).
func adaptImages(model *savedmodels.Model, sample []dataset.Entry, root, from string, p *perturb.Perturbation) iter.Seq2[savedmodels.AdaptImage, error] {
	return func(yield func(savedmodels.AdaptImage, error) bool) {
		const per = 64
		for start := 0; start < len(sample); start += per {
			chunk := sample[start:min(start+per, len(sample))]
			imgs, err := variantChunk(model, chunk, root, from, p)
			if err != nil {
				yield(savedmodels.AdaptImage{}, err)
				return
			}
			for i, img := range imgs {
				if !yield(savedmodels.AdaptImage{Name: chunk[i].Path, Image: img}, nil) {
					return
				}
			}
		}
	}
}

// variantProgress forwards an adaptation's progress, naming the variant.
func variantProgress(f progress.Func, name string, v, n int) progress.Func {
	if f == nil {
		return nil
	}
	return func(e progress.Event) {
		e.Task = fmt.Sprintf("shift %s (%d/%d): %s", name, v+1, n, e.Task)
		f(e)
	}
}
