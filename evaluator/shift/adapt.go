package shift

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
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/adapt"
	"github.com/xraylab/xray/tfgraph"
)

// The shift report with adaptation: a hospital adapts the model on its own unlabeled
// archive (xray adapt) and then reads new X-rays from the same scanner. For each variant
// (clean and every perturbation), the model is adapted by adapt.Images on a
// fixed sample of another split's images under the same perturbation, and the evaluated
// split under that perturbation is scored by the unadapted and the adapted model. One
// adapted SavedModel exists at a time, in a temporary directory removed after its row.

// DefaultAdaptImages is Adapt.Images's default: enough for stable statistics,
// few enough that 22 adaptations stay a fraction of the report's time.
const DefaultAdaptImages = 256

// Adapt asks Run to adapt the model to each variant before scoring it.
type Adapt struct {
	// Split of the same manifest whose images are adapted on (train, val or test; labels
	// unused); it must not be the evaluated split.
	Split string
	// Mode is adapt.Layerwise ("" too) or adapt.Batch.
	Mode string
	// Images: at most this many of Split's images, a fixed sample (the ones with the
	// smallest FNV-1a hash of their manifest path, so every variant and run adapts on
	// the same images whatever the manifest's order); 0: DefaultAdaptImages; at
	// least adapt.MinImages.
	Images int
	// BatchSize is images per adaptation batch (adapt.Options.BatchSize).
	BatchSize int
	// SessionConfig is the adaptation session's serialized ConfigProto; nil: defaults.
	SessionConfig []byte
	// TempDir holds the adapted SavedModel being scored; "": os.TempDir().
	TempDir string
}

// Adaptation says in the report how each variant's model was adapted.
type Adaptation struct {
	Mode      string   `json:"mode"`
	Split     string   `json:"split"`
	Images    int      `json:"images"`
	BatchSize int      `json:"batch_size"`
	Paths     []string `json:"paths"` // the images adapted on, in the order fed, relative to the data root
}

// Adapt's Field names in its *tfgraph.ConfigError.
const (
	FieldAdaptSplit  = "AdaptSplit"
	FieldAdaptImages = "AdaptImages"
)

// adaptSample checks a and returns the images to adapt on, in the order fed.
func (in Input) adaptSample(a Adapt) (predict.Images, error) {
	evaluated := cmp.Or(in.Split, string(dataset.Test))
	switch {
	case a.Split == "":
		return predict.Images{}, &tfgraph.ConfigError{Field: FieldAdaptSplit, Reason: "name the split to adapt on (train, val or test)"}
	case a.Split == predict.AllImages:
		return predict.Images{}, &tfgraph.ConfigError{Field: FieldAdaptSplit, Value: a.Split, Reason: "adapt on one split of the manifest (train, val or test), not the evaluated images too"}
	case evaluated == predict.AllImages:
		return predict.Images{}, &tfgraph.ConfigError{Field: FieldAdaptSplit, Value: a.Split, Reason: "the evaluated split is all images, so no split is disjoint from it: evaluate one split (e.g. test) and adapt on another"}
	case a.Split == evaluated:
		return predict.Images{}, &tfgraph.ConfigError{Field: FieldAdaptSplit, Value: a.Split, Reason: "is the evaluated split: adapt on another split (e.g. val) so the scores are on images the model was not adapted on"}
	case a.Images != 0 && a.Images < adapt.MinImages:
		return predict.Images{}, &tfgraph.ConfigError{Field: FieldAdaptImages, Value: a.Images, Reason: fmt.Sprintf("give at least %d images", adapt.MinImages)}
	}
	ain := in.Input
	ain.Split = a.Split
	imgs, err := ain.Images()
	if err != nil {
		return predict.Images{}, fmt.Errorf("adapt split: %w", err)
	}
	if len(imgs.Entries) < adapt.MinImages {
		return predict.Images{}, fmt.Errorf("adapt split %s of %s has %d images: %w", a.Split, imgs.From, len(imgs.Entries), adapt.ErrTooFewImages)
	}
	imgs.Entries = sampleEntries(imgs.Entries, cmp.Or(a.Images, DefaultAdaptImages))
	return imgs, nil
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

// adapted is Run with in.Adapt: per variant, adapt on the sample, then score both
// models into rep.Records and rep.AdaptedRecords.
func (s split) adapted(ctx context.Context, rep *Report, perts []perturb.Perturbation, sample predict.Images) error {
	a := *s.in.Adapt
	tmp, err := os.MkdirTemp(a.TempDir, "xray-shift-adapt-")
	if err != nil {
		return fmt.Errorf("shift: %w", err)
	}
	defer os.RemoveAll(tmp)
	rep.AdaptedRecords = map[string][]evaluator.Record{}
	rep.Adaptation = &Adaptation{Split: a.Split}
	for _, e := range sample.Entries {
		rep.Adaptation.Paths = append(rep.Adaptation.Paths, e.Path)
	}
	task := progress.Event{Task: "shift " + s.in.Split + ", adapted", Total: int64(len(s.imgs.Entries) * len(s.names)), Unit: "img"}
	for v, name := range s.names {
		var p *perturb.Perturbation
		if v > 0 {
			p = &perts[v-1]
		}
		dir := filepath.Join(tmp, fmt.Sprintf("%02d", v))
		ad, err := adapt.Images(ctx, s.in.SavedModel, dir, adaptImages(s.model, sample, p), adapt.Options{
			Mode: a.Mode, BatchSize: a.BatchSize, SessionConfig: a.SessionConfig, DICOMWindow: s.in.DICOMWindow,
			Progress: variantProgress(s.in.Progress, name, v, len(s.names)),
		})
		if err != nil {
			return fmt.Errorf("shift %s: %w", name, err)
		}
		rep.Adaptation.Mode, rep.Adaptation.Images, rep.Adaptation.BatchSize = ad.Mode, ad.Images, ad.BatchSize
		err = s.scoreAdapted(ctx, rep, dir, name, p, &task)
		if rmErr := os.RemoveAll(dir); err == nil && rmErr != nil {
			err = fmt.Errorf("shift: %w", rmErr)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// scoreAdapted predicts the variant's images (perturbed by p; nil: clean) with the model
// and with the adapted one in dir, into rep's records.
func (s split) scoreAdapted(ctx context.Context, rep *Report, dir, name string, p *perturb.Perturbation, task *progress.Event) error {
	in := s.in
	in.SavedModel = dir
	adapted, err := in.Load()
	if err != nil {
		return fmt.Errorf("shift %s: load the adapted model: %w", name, err)
	}
	defer adapted.Close()
	entries, bs := s.imgs.Entries, s.in.Batch()
	for start := 0; start < len(entries); start += bs {
		chunk := entries[start:min(start+bs, len(entries))]
		imgs, err := variantChunk(s.model, s.imgs, chunk, p)
		if err != nil {
			return err
		}
		if err := predictInto(ctx, s.model, imgs, chunk, name, rep.Records); err != nil {
			return err
		}
		if err := predictInto(ctx, adapted, imgs, chunk, name, rep.AdaptedRecords); err != nil {
			return err
		}
		task.Done += int64(len(chunk))
		s.in.Progress.Report(*task)
	}
	return nil
}

// variantChunk decodes a chunk and applies p (nil: none), as Run does.
func variantChunk(model *savedmodels.Model, imgs predict.Images, chunk []dataset.Entry, p *perturb.Perturbation) ([]image.Image, error) {
	out, err := decodeChunk(model, imgs, chunk)
	if err != nil || p == nil {
		return out, err
	}
	return perturbChunk(out, chunk, *p)
}

// adaptImages streams the sample decoded and perturbed, one chunk in memory at a time;
// a read error ends the stream (the adaptation fails with it).
func adaptImages(model *savedmodels.Model, sample predict.Images, p *perturb.Perturbation) iter.Seq2[adapt.Image, error] {
	return func(yield func(adapt.Image, error) bool) {
		const per = 64
		entries := sample.Entries
		for start := 0; start < len(entries); start += per {
			chunk := entries[start:min(start+per, len(entries))]
			imgs, err := variantChunk(model, sample, chunk, p)
			if err != nil {
				yield(adapt.Image{}, err)
				return
			}
			for i, img := range imgs {
				if !yield(adapt.Image{Name: chunk[i].Path, Image: img}, nil) {
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
