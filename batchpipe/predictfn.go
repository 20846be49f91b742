package batchpipe

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/xraylab/xray/predictstream"
	"github.com/xraylab/xray/savedmodels"
)

func init() {
	register.DoFn4x1[context.Context, fileio.FileMetadata, func(string), func(string), error](&predictFn{})
	register.Emitter1[string]()
}

// Metric names (namespace "xray"); the summary is read from them.
const (
	metricNS        = "xray"
	metricMatched   = "matched"
	metricFailed    = "failed"
	metricClassPref = "class_"
)

// predictFn predicts files a batch at a time: ProcessElement gathers them, a full batch
// or FinishBundle predicts them. Setup takes the worker's one copy of the model (see
// sharedModel). Successes go to the first output, failures to the second
// (the dead letters), both as predictstream.Line JSON.
type predictFn struct {
	SavedModel string
	Batch      int

	model *savedmodels.Model
	files []string
}

func (f *predictFn) Setup() (err error) {
	f.model, err = sharedModel(f.SavedModel, f.Batch)
	return err
}

func (f *predictFn) StartBundle(context.Context, func(string), func(string)) { f.files = f.files[:0] }

func (f *predictFn) ProcessElement(ctx context.Context, file fileio.FileMetadata, ok, failed func(string)) error {
	beam.NewCounter(metricNS, metricMatched).Inc(ctx, 1)
	f.files = append(f.files, file.Path)
	if len(f.files) < f.Batch {
		return nil
	}
	return f.flush(ctx, ok, failed)
}

func (f *predictFn) FinishBundle(ctx context.Context, ok, failed func(string)) error {
	return f.flush(ctx, ok, failed)
}

// flush reads the gathered files through Beam's filesystems and predicts them.
func (f *predictFn) flush(ctx context.Context, ok, failed func(string)) error {
	if len(f.files) == 0 {
		return nil
	}
	files := f.files
	f.files = f.files[:0]
	contents := make([][]byte, len(files))
	readErr := make([]error, len(files))
	for i, p := range files {
		contents[i], readErr[i] = fileio.ReadableFile{Metadata: fileio.FileMetadata{Path: p}}.Read(ctx)
	}
	preds, err := f.model.PredictBytes(ctx, contents...)
	if err != nil {
		return fmt.Errorf("predict with %s: %w", f.SavedModel, err)
	}
	for i, p := range preds {
		if readErr[i] != nil {
			p.Err = readErr[i]
		}
		l := predictstream.Line{File: files[i], Prediction: p}
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if l.Err != nil {
			beam.NewCounter(metricNS, metricFailed).Inc(ctx, 1)
			failed(string(b))
			continue
		}
		beam.NewCounter(metricNS, metricClassPref+l.Label).Inc(ctx, 1)
		ok(string(b))
	}
	return nil
}
