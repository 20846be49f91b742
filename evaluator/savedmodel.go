package evaluator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
)

// AllImages is the split name that evaluates every image of a data folder, without a
// manifest: an external test set.
const AllImages = "all"

// SavedModelInput says which model to run over which images.
type SavedModelInput struct {
	SavedModel string        // SavedModel directory
	Data       string        // dataset root; "" means the manifest's root
	Manifest   string        // split manifest; "" means the training run's OUT/manifest.csv
	Split      string        // subset to run: test (default), val, train, or AllImages
	BatchSize  int           // images per session run; default 32
	Progress   progress.Func // called after each batch of images; nil for none
	Log        io.Writer     // one warning line per file skipped with AllImages; nil to discard
	// RequireThreshold fails with ErrNoThreshold, before predicting, when the model
	// stores no operating threshold (the thresholded decision was asked for).
	RequireThreshold bool
	// DICOMWindow is how DICOM images become 8-bit gray; nil: the model's
	// (savedmodels.Options.DICOMWindow).
	DICOMWindow *dicom.Window
}

// manifestPath is the manifest to use: the one given, else the one the training run
// saved beside its SavedModel (OUT/savedmodel -> OUT/manifest.csv).
func (in SavedModelInput) manifestPath() (string, error) {
	if in.Manifest != "" {
		return in.Manifest, nil
	}
	p := filepath.Join(filepath.Dir(filepath.Clean(in.SavedModel)), "manifest.csv")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w for %s: none given and no manifest.csv beside it", ErrNoManifest, in.SavedModel)
}

// ErrNoManifest: evaluating a SavedModel needs the split manifest, and none was given or
// found beside it.
var ErrNoManifest = errors.New("no split manifest")

// images lists the images to run, their root, and where the list came from (for errors).
// AllImages without a manifest scans Data (either layout, labels from the class folders);
// AllImages with one takes all its entries.
func (in SavedModelInput) images() (entries []dataset.Entry, root, from string, err error) {
	split := in.Split
	if split == "" {
		split = string(dataset.Test)
	}
	if split == AllImages && in.Manifest == "" {
		if in.Data == "" {
			return nil, "", "", errors.New("evaluating all images without a manifest needs the data folder")
		}
		ing, err := dataset.Ingest(in.Data, dataset.IngestOptions{})
		if err != nil {
			return nil, "", "", err
		}
		if in.Log != nil {
			for _, s := range ing.Skipped {
				fmt.Fprintf(in.Log, "warning: skipped %s: %s\n", s.Path, s.Reason)
			}
		}
		return ing.Entries, ing.Root, in.Data, nil
	}
	mpath, err := in.manifestPath()
	if err != nil {
		return nil, "", "", err
	}
	man, err := dataset.ReadManifest(mpath)
	if err != nil {
		return nil, "", "", err
	}
	entries = man.Entries
	if split != AllImages {
		sub, err := dataset.ParseSubset(split)
		if err != nil {
			return nil, "", "", fmt.Errorf("%w, or %s for every image", err, AllImages)
		}
		if entries = man.Subset(sub); len(entries) == 0 {
			return nil, "", "", fmt.Errorf("manifest %s has no %s images", mpath, split)
		}
	}
	root = man.Root
	if in.Data != "" {
		root = in.Data
	}
	return entries, root, "the manifest " + mpath, nil
}

// PredictSplit runs a SavedModel over one subset of a manifest (or every image of a
// folder, Split AllImages) and returns a record per image (paths relative to the data
// root, as in the manifest) and the model's metadata (architecture, operating
// threshold). Images are decoded and preprocessed by the model's own preprocessing and
// checked against the manifest's sha256. An unreadable or changed image fails the run: a
// test set with holes would not be comparable.
func PredictSplit(ctx context.Context, in SavedModelInput) ([]Record, savedmodels.Metadata, error) {
	var meta savedmodels.Metadata
	entries, root, from, err := in.images()
	if err != nil {
		return nil, meta, err
	}
	model, err := savedmodels.Load(in.SavedModel, savedmodels.Options{MaxDelay: -1, DICOMWindow: in.DICOMWindow})
	if err != nil {
		return nil, meta, err
	}
	defer model.Close()
	if t := model.Metadata().Threshold; in.RequireThreshold && (t == nil || t.IsArgmax()) {
		return nil, meta, fmt.Errorf("%s: %w", in.SavedModel, ErrNoThreshold)
	}
	bs := in.BatchSize
	if bs <= 0 {
		bs = savedmodels.DefaultMaxBatch
	}
	set := labels.Default()
	if names := model.Metadata().Classes; len(names) > 2 {
		if set, err = labels.New(names...); err != nil {
			return nil, meta, fmt.Errorf("%s: %w", in.SavedModel, err)
		}
	}
	task := progress.Event{Task: "evaluate " + in.Split, Total: int64(len(entries)), Unit: "img"}
	records := make([]Record, 0, len(entries))
	for start := 0; start < len(entries); start += bs {
		chunk := entries[start:min(start+bs, len(entries))]
		files := make([][]byte, len(chunk))
		for i, e := range chunk {
			b, err := e.ReadFile(root)
			if errors.Is(err, dataset.ErrChanged) {
				return nil, meta, fmt.Errorf("evaluate %w", err)
			}
			if err != nil {
				return nil, meta, fmt.Errorf("read %s: %w (is the data folder the root of %s?)", e.Path, unwrapPath(err), from)
			}
			files[i] = b
		}
		preds, err := model.PredictBytes(ctx, files...)
		if err != nil {
			return nil, meta, err
		}
		for i, p := range preds {
			if p.Err != nil {
				return nil, meta, fmt.Errorf("%s: %w", chunk[i].Path, p.Err)
			}
			records = append(records, binaryRecord(chunk[i].Path, chunk[i].Label, p.Probabilities))
			if len(p.Probabilities) > 2 {
				records[len(records)-1].Classes = newClassProbs(set, chunk[i].Label, p.Probabilities)
			}
		}
		task.Done += int64(len(chunk))
		in.Progress.Report(task)
	}
	return records, model.Metadata(), nil
}

// binaryRecord is one prediction's normal-vs-pneumonia record. For a model of more
// classes (normal, bacterial, viral) p_pneumonia is the sum of the other classes'
// probabilities and every label but normal (0) is pneumonia: the Kermany paper's normal
// vs pneumonia view, comparable with two-class models (xray compare). Two-class
// predictions pass unchanged.
func binaryRecord(path string, label int, probs []float32) Record {
	r := Record{Path: path, Label: min(label, labels.Pneumonia), Probs: [2]float64{float64(probs[labels.Normal])}}
	for _, p := range probs[labels.Normal+1:] {
		r.Probs[labels.Pneumonia] += float64(p)
	}
	return r
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
