package predict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
)

// AllImages is the split name that evaluates every image of a data folder, without a
// manifest: an external test set.
const AllImages = "all"

// Input says which model to run over which images.
type Input struct {
	SavedModel string        // SavedModel directory
	Data       string        // dataset root; "" means the manifest's root
	Manifest   string        // split manifest; "" means the training run's OUT/manifest.csv
	Split      string        // subset to run: test (default), val, train, or AllImages
	BatchSize  int           // images per session run; default savedmodels.DefaultMaxBatch
	Progress   progress.Func // called after each batch of images; nil for none
	// Logger gets one Warn record per file skipped with AllImages ("skipped", path,
	// reason); nil: discarded.
	Logger *slog.Logger
	// RequireThreshold fails with evaluator.ErrNoThreshold, before predicting, when the
	// model stores no operating threshold (the thresholded decision was asked for).
	RequireThreshold bool
	// DICOMWindow is how DICOM images become 8-bit gray; nil: the model's
	// (savedmodels.Options.DICOMWindow).
	DICOMWindow *dicom.Window
}

// ErrNoManifest: evaluating a SavedModel needs the split manifest, and none was given or
// found beside it.
var ErrNoManifest = errors.New("no split manifest")

// manifestPath is the manifest to use: the one given, else the one the training run
// saved beside its SavedModel (OUT/savedmodel -> OUT/manifest.csv).
func (in Input) manifestPath() (string, error) {
	if in.Manifest != "" {
		return in.Manifest, nil
	}
	p := filepath.Join(filepath.Dir(filepath.Clean(in.SavedModel)), "manifest.csv")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w for %s: none given and no manifest.csv beside it", ErrNoManifest, in.SavedModel)
}

// Images are the images an Input names.
type Images struct {
	Entries []dataset.Entry // in manifest (or folder scan) order
	Root    string          // the data root the entries' paths are relative to
	From    string          // where the list came from, for errors: "the manifest PATH" or the data folder
}

// Images lists the images to run. AllImages without a manifest scans Data (either
// layout, labels from the class folders); AllImages with one takes all its entries.
func (in Input) Images() (Images, error) {
	split := in.Split
	if split == "" {
		split = string(dataset.Test)
	}
	if split == AllImages && in.Manifest == "" {
		if in.Data == "" {
			return Images{}, errors.New("evaluating all images without a manifest needs the data folder")
		}
		ing, err := dataset.Ingest(in.Data, dataset.IngestOptions{})
		if err != nil {
			return Images{}, err
		}
		if in.Logger != nil {
			for _, s := range ing.Skipped {
				in.Logger.Warn("skipped", "path", s.Path, "reason", s.Reason)
			}
		}
		return Images{ing.Entries, ing.Root, in.Data}, nil
	}
	mpath, err := in.manifestPath()
	if err != nil {
		return Images{}, err
	}
	man, err := dataset.ReadManifest(mpath)
	if err != nil {
		return Images{}, err
	}
	entries := man.Entries
	if split != AllImages {
		sub, err := dataset.ParseSubset(split)
		if err != nil {
			return Images{}, fmt.Errorf("%w, or %s for every image", err, AllImages)
		}
		if entries = man.Subset(sub); len(entries) == 0 {
			return Images{}, fmt.Errorf("manifest %s has no %s images", mpath, split)
		}
	}
	root := man.Root
	if in.Data != "" {
		root = in.Data
	}
	return Images{entries, root, "the manifest " + mpath}, nil
}

// Read reads e's file under the root, checking it against the manifest's sha256: an
// error wrapping dataset.ErrChanged for a changed file, else one that says where the list
// came from.
func (im Images) Read(e dataset.Entry) ([]byte, error) {
	b, err := e.ReadFile(im.Root)
	if errors.Is(err, dataset.ErrChanged) {
		return nil, fmt.Errorf("evaluate %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (is the data folder the root of %s?)", e.Path, unwrapPath(err), im.From)
	}
	return b, nil
}

// Load loads the input's SavedModel as every run over a split does: no batching delay,
// the input's DICOM window.
func (in Input) Load() (*savedmodels.Model, error) {
	return savedmodels.Load(in.SavedModel, savedmodels.Options{MaxDelay: -1, DICOMWindow: in.DICOMWindow})
}

// Batch is the images per session run: BatchSize, else savedmodels.DefaultMaxBatch.
func (in Input) Batch() int {
	if in.BatchSize <= 0 {
		return savedmodels.DefaultMaxBatch
	}
	return in.BatchSize
}

// Split runs a SavedModel over one subset of a manifest (or every image of a folder,
// Split AllImages) and returns a record per image (paths relative to the data root, as
// in the manifest) and the model's metadata (architecture, operating threshold). Images
// are decoded and preprocessed by the model's own preprocessing and checked against the
// manifest's sha256. An unreadable or changed image fails the run: a test set with holes
// would not be comparable.
func Split(ctx context.Context, in Input) ([]evaluator.Record, savedmodels.Metadata, error) {
	var meta savedmodels.Metadata
	imgs, err := in.Images()
	if err != nil {
		return nil, meta, err
	}
	model, err := in.Load()
	if err != nil {
		return nil, meta, err
	}
	defer model.Close()
	if t := model.Metadata().Threshold; in.RequireThreshold && (t == nil || t.IsArgmax()) {
		return nil, meta, fmt.Errorf("%s: %w", in.SavedModel, evaluator.ErrNoThreshold)
	}
	set := labels.Default()
	if names := model.Metadata().Classes; len(names) > 2 {
		if set, err = labels.New(names...); err != nil {
			return nil, meta, fmt.Errorf("%s: %w", in.SavedModel, err)
		}
	}
	entries, bs := imgs.Entries, in.Batch()
	task := progress.Event{Task: "evaluate " + in.Split, Total: int64(len(entries)), Unit: "img"}
	records := make([]evaluator.Record, 0, len(entries))
	for start := 0; start < len(entries); start += bs {
		chunk := entries[start:min(start+bs, len(entries))]
		files := make([][]byte, len(chunk))
		for i, e := range chunk {
			if files[i], err = imgs.Read(e); err != nil {
				return nil, meta, err
			}
		}
		preds, err := model.PredictBytes(ctx, files...)
		if err != nil {
			return nil, meta, err
		}
		for i, p := range preds {
			if p.Err != nil {
				return nil, meta, fmt.Errorf("%s: %w", chunk[i].Path, p.Err)
			}
			records = append(records, evaluator.BinaryRecord(chunk[i].Path, chunk[i].Label, p.Probabilities))
			if len(p.Probabilities) > 2 {
				records[len(records)-1].Classes = evaluator.NewClassProbs(set, chunk[i].Label, p.Probabilities)
			}
		}
		task.Done += int64(len(chunk))
		in.Progress.Report(task)
	}
	return records, model.Metadata(), nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
