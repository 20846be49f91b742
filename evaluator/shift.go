package evaluator

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
)

// The shift report: the split evaluated as it is (the clean baseline) and under each
// perturbation of package perturb, a stand-in for the same patients seen by another
// scanner. Each image is read once (sha256 checked against the manifest), decoded by the
// model's own decoder (preprocess: EXIF orientation, the model's DICOM window), perturbed
// at the file's own size with the noise seeded by its manifest path, then preprocessed
// and predicted as Predict does for a decoded image; the clean row equals xray evaluate's.

// ShiftInput is the split to run and the perturbations to apply.
type ShiftInput struct {
	SavedModelInput
	// Perturbations to evaluate besides the clean baseline; nil: perturb.Standard().
	Perturbations []perturb.Perturbation
	// Adapt, when set, also scores the model adapted to each variant.
	Adapt *ShiftAdapt
}

// ShiftRow is the evaluation under one perturbation (Perturbation "clean", Level 0, for
// the baseline), by the argmax decision as xray evaluate's primary one.
type ShiftRow struct {
	Perturbation string  `json:"perturbation"`
	Level        int     `json:"level"`
	Param        float64 `json:"param"`
	N            int     `json:"n"`
	ShiftScores
	// Adapted are the scores of the model adapted to this variant (ShiftInput.Adapt);
	// nil without adaptation.
	Adapted *ShiftScores `json:"adapted,omitempty"`
}

// ShiftScores are one variant's metrics.
type ShiftScores struct {
	Accuracy    float64  `json:"accuracy"`
	Sensitivity *float64 `json:"sensitivity"` // nil when the split has no pneumonia image
	Specificity *float64 `json:"specificity"` // nil when the split has no normal image
	ROCAUC      *float64 `json:"roc_auc"`     // nil with one class present
}

// Clean is ShiftRow.Perturbation of the baseline.
const Clean = "clean"

// ShiftReport is the table of rows, the clean baseline first, and the records behind each
// row (keyed by perturbation name, e.g. "blur-2", and Clean).
type ShiftReport struct {
	Model       string              `json:"model"`
	Split       string              `json:"split"`
	Source      string              `json:"source"`
	SplitSHA256 string              `json:"split_sha256"`
	Adaptation  *ShiftAdaptation    `json:"adaptation,omitempty"` // with ShiftInput.Adapt
	Rows        []ShiftRow          `json:"rows"`
	Records     map[string][]Record `json:"-"`
	// AdaptedRecords are the adapted models' records, keyed as Records (with Adapt).
	AdaptedRecords map[string][]Record `json:"-"`
}

// Shift runs the model over the split clean and under each perturbation and evaluates
// every variant; with in.Adapt, also the model adapted to each variant (see ShiftAdapt).
// Progress counts predicted images (images x variants). Errors are PredictSplit's, plus
// perturb's, plus with Adapt savedmodels.AdaptImages's and a *tfgraph.ConfigError for a
// bad ShiftAdapt.
func Shift(ctx context.Context, in ShiftInput) (*ShiftReport, error) {
	perts := in.Perturbations
	if perts == nil {
		perts = perturb.Standard()
	}
	if in.Adapt != nil {
		return shiftAdapted(ctx, in, perts)
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
	bs := in.BatchSize
	if bs <= 0 {
		bs = savedmodels.DefaultMaxBatch
	}
	names := variantNames(perts)
	recs := make(map[string][]Record, len(names))
	task := progress.Event{Task: "shift " + in.Split, Total: int64(len(entries) * len(names)), Unit: "img"}
	for start := 0; start < len(entries); start += bs {
		chunk := entries[start:min(start+bs, len(entries))]
		imgs, err := decodeChunk(model, chunk, root, from)
		if err != nil {
			return nil, err
		}
		for v, name := range names {
			batch := imgs
			if v > 0 {
				if batch, err = perturbChunk(imgs, chunk, perts[v-1]); err != nil {
					return nil, err
				}
			}
			preds, err := model.Predict(ctx, batch...)
			if err != nil {
				return nil, err
			}
			for i, p := range preds {
				if p.Err != nil {
					return nil, fmt.Errorf("%s (%s): %w", chunk[i].Path, name, p.Err)
				}
				recs[name] = append(recs[name], binaryRecord(chunk[i].Path, chunk[i].Label, p.Probabilities))
			}
			task.Done += int64(len(chunk))
			in.Progress.Report(task)
		}
	}
	rep := &ShiftReport{Model: model.Metadata().Arch, Split: in.Split, Source: in.SavedModel, Records: recs}
	if err := rep.score(perts); err != nil {
		return nil, err
	}
	return rep, nil
}

// variantNames are the keys of the clean baseline and each perturbation.
func variantNames(perts []perturb.Perturbation) []string {
	names := []string{Clean}
	for _, p := range perts {
		names = append(names, p.String())
	}
	return names
}

// score evaluates r.Records (and r.AdaptedRecords, when set) into r.Rows.
func (r *ShiftReport) score(perts []perturb.Perturbation) error {
	eval := func(name string, recs []Record) (ShiftScores, int, error) {
		rep, err := Evaluate(recs, Options{Model: r.Model, Split: r.Split})
		if err != nil {
			return ShiftScores{}, 0, fmt.Errorf("shift %s: %w", name, err)
		}
		m := rep.Metrics
		s := ShiftScores{Accuracy: m.Accuracy, ROCAUC: m.ROCAUC}
		if m.Sensitivity != nil {
			s.Sensitivity = &m.Sensitivity.Estimate
		}
		if m.Specificity != nil {
			s.Specificity = &m.Specificity.Estimate
		}
		r.SplitSHA256 = m.SplitSHA256
		return s, m.N, nil
	}
	for v, name := range variantNames(perts) {
		row := ShiftRow{Perturbation: Clean}
		if v > 0 {
			p := perts[v-1]
			row = ShiftRow{Perturbation: p.Kind, Level: p.Level, Param: p.Param}
		}
		var err error
		if row.ShiftScores, row.N, err = eval(name, r.Records[name]); err != nil {
			return err
		}
		if r.AdaptedRecords != nil {
			s, _, err := eval(name+" adapted", r.AdaptedRecords[name])
			if err != nil {
				return err
			}
			row.Adapted = &s
		}
		r.Rows = append(r.Rows, row)
	}
	return nil
}

// decodeChunk reads (checking the manifest's sha256) and decodes a chunk's images.
func decodeChunk(model *savedmodels.Model, chunk []dataset.Entry, root, from string) ([]image.Image, error) {
	imgs := make([]image.Image, len(chunk))
	errs := make([]error, len(chunk))
	forEach(len(chunk), func(i int) {
		b, err := chunk[i].ReadFile(root)
		switch {
		case errors.Is(err, dataset.ErrChanged):
			errs[i] = fmt.Errorf("evaluate %w", err)
		case err != nil:
			errs[i] = fmt.Errorf("read %s: %w (is the data folder the root of %s?)", chunk[i].Path, unwrapPath(err), from)
		default:
			if imgs[i], err = model.Preprocessor().Decode(b); err != nil {
				errs[i] = fmt.Errorf("%s: %w", chunk[i].Path, err)
			}
		}
	})
	return imgs, errors.Join(errs...)
}

// perturbChunk applies p to every image, seeding noise by the manifest path.
func perturbChunk(imgs []image.Image, chunk []dataset.Entry, p perturb.Perturbation) ([]image.Image, error) {
	out := make([]image.Image, len(imgs))
	errs := make([]error, len(imgs))
	forEach(len(imgs), func(i int) {
		if out[i], errs[i] = perturb.Apply(imgs[i], p, perturb.Seed(chunk[i].Path)); errs[i] != nil {
			errs[i] = fmt.Errorf("%s: %w", chunk[i].Path, errs[i])
		}
	})
	return out, errors.Join(errs...)
}

// forEach runs f(0..n-1) on up to GOMAXPROCS goroutines.
func forEach(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(n, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
