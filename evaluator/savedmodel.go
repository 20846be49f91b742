package evaluator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/savedmodels"
)

// SavedModelInput says which model to run over which images.
type SavedModelInput struct {
	SavedModel string    // SavedModel directory
	Data       string    // dataset root; "" means the manifest's root
	Manifest   string    // split manifest; "" means the training run's OUT/manifest.csv
	Split      string    // subset to run: test (default), val or train
	BatchSize  int       // images per session run; default 32
	Progress   io.Writer // progress bar; nil for none
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
	return "", fmt.Errorf("no manifest for %s: pass --manifest FILE (from 'xray dataset split', or the training run's manifest.csv)", in.SavedModel)
}

// PredictSplit runs a SavedModel over one subset of a manifest and returns a record per
// image (paths relative to the data root, as in the manifest) and the model's
// architecture. Images are decoded and preprocessed by the model's own preprocessing
// (savedmodels uses preprocess.Preprocessor with the size and scaling in its metadata). An
// unreadable image fails the run: a test set with holes would not be comparable.
func PredictSplit(ctx context.Context, in SavedModelInput) ([]Record, string, error) {
	mpath, err := in.manifestPath()
	if err != nil {
		return nil, "", err
	}
	man, err := dataset.ReadManifest(mpath)
	if err != nil {
		return nil, "", err
	}
	split := in.Split
	if split == "" {
		split = string(dataset.Test)
	}
	sub, err := dataset.ParseSubset(split)
	if err != nil {
		return nil, "", err
	}
	entries := man.Subset(sub)
	if len(entries) == 0 {
		return nil, "", fmt.Errorf("manifest %s has no %s images", mpath, split)
	}
	root := man.Root
	if in.Data != "" {
		root = in.Data
	}
	model, err := savedmodels.Load(in.SavedModel, savedmodels.Options{MaxDelay: -1})
	if err != nil {
		return nil, "", err
	}
	defer model.Close()
	bs := in.BatchSize
	if bs <= 0 {
		bs = savedmodels.DefaultMaxBatch
	}
	var bar *progressbar.ProgressBar
	if in.Progress != nil {
		bar = progressbar.NewOptions(len(entries), progressbar.OptionSetWriter(in.Progress),
			progressbar.OptionSetDescription("evaluate "+split), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		defer bar.Finish()
	}
	records := make([]Record, 0, len(entries))
	for start := 0; start < len(entries); start += bs {
		chunk := entries[start:min(start+bs, len(entries))]
		files := make([][]byte, len(chunk))
		for i, e := range chunk {
			b, err := e.ReadFile(root)
			if errors.Is(err, dataset.ErrChanged) {
				return nil, "", fmt.Errorf("evaluate %w", err)
			}
			if err != nil {
				return nil, "", fmt.Errorf("read %s: %w (is --data the root the manifest %s was made from?)", e.Path, unwrapPath(err), mpath)
			}
			files[i] = b
		}
		preds, err := model.PredictBytes(ctx, files...)
		if err != nil {
			return nil, "", err
		}
		for i, p := range preds {
			if p.Err != nil {
				return nil, "", fmt.Errorf("%s: %w", chunk[i].Path, p.Err)
			}
			records = append(records, Record{Path: chunk[i].Path, Label: chunk[i].Label,
				Probs: [2]float64{float64(p.Probabilities[0]), float64(p.Probabilities[1])}})
		}
		if bar != nil {
			bar.Add(len(chunk))
		}
	}
	return records, model.Metadata().Arch, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
