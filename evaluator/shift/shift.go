package shift

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/internal/parallel"
	"github.com/xraylab/xray/perturb"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
)

// Input is the split to run and the perturbations to apply.
type Input struct {
	predict.Input
	// Perturbations to evaluate besides the clean baseline; nil: perturb.Standard().
	Perturbations []perturb.Perturbation
	// Adapt, when set, also scores the model adapted to each variant.
	Adapt *Adapt
}

// Row is the evaluation under one perturbation (Perturbation "clean", Level 0, for
// the baseline), by the argmax decision as xray evaluate's primary one.
type Row struct {
	Perturbation string  `json:"perturbation"`
	Level        int     `json:"level"`
	Param        float64 `json:"param"`
	N            int     `json:"n"`
	Scores
	// Adapted are the scores of the model adapted to this variant (Input.Adapt);
	// nil without adaptation.
	Adapted *Scores `json:"adapted,omitempty"`
}

// Scores are one variant's metrics.
type Scores struct {
	Accuracy    float64  `json:"accuracy"`
	Sensitivity *float64 `json:"sensitivity"` // nil when the split has no pneumonia image
	Specificity *float64 `json:"specificity"` // nil when the split has no normal image
	ROCAUC      *float64 `json:"roc_auc"`     // nil with one class present
}

// Clean is Row.Perturbation of the baseline.
const Clean = "clean"

// Report is the table of rows, the clean baseline first, and the records behind each
// row (keyed by perturbation name, e.g. "blur-2", and Clean).
type Report struct {
	Model       string                        `json:"model"`
	Split       string                        `json:"split"`
	Source      string                        `json:"source"`
	SplitSHA256 string                        `json:"split_sha256"`
	Adaptation  *Adaptation                   `json:"adaptation,omitempty"` // with Input.Adapt
	Rows        []Row                         `json:"rows"`
	Records     map[string][]evaluator.Record `json:"-"`
	// AdaptedRecords are the adapted models' records, keyed as Records (with Adapt).
	AdaptedRecords map[string][]evaluator.Record `json:"-"`
}

// Run runs the model over the split clean and under each perturbation and evaluates
// every variant; with in.Adapt, also the model adapted to each variant (see Adapt).
// Progress counts predicted images (images x variants). Errors are predict.Split's, plus
// perturb's, plus with Adapt adapt.Images's and a *tfgraph.ConfigError for a
// bad Adapt.
func Run(ctx context.Context, in Input) (*Report, error) {
	perts := in.Perturbations
	if perts == nil {
		perts = perturb.Standard()
	}
	var sample predict.Images
	if in.Adapt != nil {
		var err error
		if sample, err = in.adaptSample(*in.Adapt); err != nil {
			return nil, err
		}
	}
	imgs, err := in.Images()
	if err != nil {
		return nil, err
	}
	model, err := in.Load()
	if err != nil {
		return nil, err
	}
	defer model.Close()
	run := split{in: in, imgs: imgs, model: model, names: variantNames(perts)}
	rep := &Report{Model: model.Metadata().Arch, Split: in.Split, Source: in.SavedModel, Records: map[string][]evaluator.Record{}}
	if in.Adapt != nil {
		err = run.adapted(ctx, rep, perts, sample)
	} else {
		err = run.plain(ctx, rep, perts)
	}
	if err != nil {
		return nil, err
	}
	if err := rep.score(perts); err != nil {
		return nil, err
	}
	return rep, nil
}

// split is what both kinds of report run over: the evaluated images, the loaded model,
// and the variants' names (variantNames).
type split struct {
	in    Input
	imgs  predict.Images
	model *savedmodels.Model
	names []string
}

// plain predicts every variant of the split's images into rep.Records.
func (s split) plain(ctx context.Context, rep *Report, perts []perturb.Perturbation) error {
	entries, bs := s.imgs.Entries, s.in.Batch()
	task := progress.Event{Task: "shift " + s.in.Split, Total: int64(len(entries) * len(s.names)), Unit: "img"}
	for start := 0; start < len(entries); start += bs {
		chunk := entries[start:min(start+bs, len(entries))]
		imgs, err := decodeChunk(s.model, s.imgs, chunk)
		if err != nil {
			return err
		}
		for v, name := range s.names {
			batch := imgs
			if v > 0 {
				if batch, err = perturbChunk(imgs, chunk, perts[v-1]); err != nil {
					return err
				}
			}
			if err := predictInto(ctx, s.model, batch, chunk, name, rep.Records); err != nil {
				return err
			}
			task.Done += int64(len(chunk))
			s.in.Progress.Report(task)
		}
	}
	return nil
}

// predictInto predicts imgs (the chunk's images under variant name) and appends their
// records to recs[name].
func predictInto(ctx context.Context, model *savedmodels.Model, imgs []image.Image, chunk []dataset.Entry, name string, recs map[string][]evaluator.Record) error {
	preds, err := model.Predict(ctx, imgs...)
	if err != nil {
		return err
	}
	for i, p := range preds {
		if p.Err != nil {
			return fmt.Errorf("%s (%s): %w", chunk[i].Path, name, p.Err)
		}
		recs[name] = append(recs[name], evaluator.BinaryRecord(chunk[i].Path, chunk[i].Label, p.Probabilities))
	}
	return nil
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
func (r *Report) score(perts []perturb.Perturbation) error {
	eval := func(name string, recs []evaluator.Record) (Scores, int, error) {
		rep, err := evaluator.Evaluate(recs, evaluator.Options{Model: r.Model, Split: r.Split})
		if err != nil {
			return Scores{}, 0, fmt.Errorf("shift %s: %w", name, err)
		}
		m := rep.Metrics
		s := Scores{Accuracy: m.Accuracy, ROCAUC: m.ROCAUC}
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
		row := Row{Perturbation: Clean}
		if v > 0 {
			p := perts[v-1]
			row = Row{Perturbation: p.Kind, Level: p.Level, Param: p.Param}
		}
		var err error
		if row.Scores, row.N, err = eval(name, r.Records[name]); err != nil {
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
func decodeChunk(model *savedmodels.Model, imgs predict.Images, chunk []dataset.Entry) ([]image.Image, error) {
	out := make([]image.Image, len(chunk))
	errs := make([]error, len(chunk))
	parallel.For(len(chunk), 0, func(i int) {
		b, err := imgs.Read(chunk[i])
		if err != nil {
			errs[i] = err
			return
		}
		if out[i], err = model.Preprocessor().Decode(b); err != nil {
			errs[i] = fmt.Errorf("%s: %w", chunk[i].Path, err)
		}
	})
	return out, errors.Join(errs...)
}

// perturbChunk applies p to every image, seeding noise by the manifest path.
func perturbChunk(imgs []image.Image, chunk []dataset.Entry, p perturb.Perturbation) ([]image.Image, error) {
	out := make([]image.Image, len(imgs))
	errs := make([]error, len(imgs))
	parallel.For(len(imgs), 0, func(i int) {
		if out[i], errs[i] = perturb.Apply(imgs[i], p, perturb.Seed(chunk[i].Path)); errs[i] != nil {
			errs[i] = fmt.Errorf("%s: %w", chunk[i].Path, errs[i])
		}
	})
	return out, errors.Join(errs...)
}
