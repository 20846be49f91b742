package savedmodels

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// FilePrediction is the prediction for one image file.
type FilePrediction struct {
	File string
	Prediction
}

// MarshalJSON writes {"file", "class", "class_id", "probability" (of that class),
// "probabilities" ([normal, pneumonia]), "decision_id" (by the model's operating
// threshold)}, or {"file", "error"} for a file that failed.
func (p FilePrediction) MarshalJSON() ([]byte, error) {
	if p.Err != nil {
		return json.Marshal(struct {
			File  string `json:"file"`
			Error string `json:"error"`
		}{p.File, p.Message()})
	}
	return json.Marshal(struct {
		File          string     `json:"file"`
		Class         string     `json:"class"`
		ClassID       int        `json:"class_id"`
		Probability   float32    `json:"probability"`
		Probabilities [2]float32 `json:"probabilities"`
		DecisionID    int        `json:"decision_id"`
	}{p.File, p.Label, p.Class, p.Probabilities[p.Class], p.Probabilities, p.Decision})
}

// Message is Err's text without the file name that starts it (for output that shows the
// file beside it); "" when there is no error.
func (p FilePrediction) Message() string {
	if p.Err == nil {
		return ""
	}
	return strings.TrimPrefix(p.Err.Error(), p.File+": ")
}

// PredictFiles reads and classifies image files, a batch at a time, and hands each
// result to emit in the order of paths. A file that cannot be read or decoded gets its
// own Err and the others are still predicted; the error returned is emit's, the
// context's or the model's.
func (m *Model) PredictFiles(ctx context.Context, paths []string, emit func(FilePrediction) error) error {
	for start := 0; start < len(paths); start += m.maxBatch {
		chunk := paths[start:min(start+m.maxBatch, len(paths))]
		files := make([][]byte, len(chunk))
		readErr := make([]error, len(chunk))
		for i, p := range chunk {
			files[i], readErr[i] = os.ReadFile(p)
		}
		preds, err := m.PredictBytes(ctx, files...)
		if err != nil {
			return err
		}
		for i, p := range chunk {
			fp := FilePrediction{File: p, Prediction: preds[i]}
			if readErr[i] != nil {
				fp.Prediction = Prediction{Err: readErr[i]}
			} else if fp.Err != nil {
				fp.Err = fmt.Errorf("%s: %w", p, fp.Err)
			}
			if err := emit(fp); err != nil {
				return err
			}
		}
	}
	return nil
}
