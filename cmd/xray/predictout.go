package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/xraylab/xray/savedmodels"
)

// filePrediction is one line of `xray predict`'s output.
type filePrediction struct {
	File string
	savedmodels.Prediction
}

// MarshalJSON writes {"file", "class", "class_id", "probability" (of that class),
// "probabilities" ([normal, pneumonia]), "decision_id" (by the model's operating
// threshold)}, or {"file", "error"} for a file that failed.
func (p filePrediction) MarshalJSON() ([]byte, error) {
	if p.Err != nil {
		return json.Marshal(struct {
			File  string `json:"file"`
			Error string `json:"error"`
		}{p.File, p.message()})
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

// message is Err's text without the file name that starts it (the output shows the file
// beside it); "" when there is no error.
func (p filePrediction) message() string {
	if p.Err == nil {
		return ""
	}
	s := p.Err.Error()
	for _, prefix := range []string{p.File + ": ", "open " + p.File + ": ", "read " + p.File + ": "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// predictFiles classifies files batch images at a time (so memory stays flat on long
// lists) and hands each result to emit in order. A file that fails gets its own Err; the
// error returned is emit's, the context's or the model's.
func predictFiles(ctx context.Context, m *savedmodels.Model, paths []string, batch int, emit func(filePrediction) error) error {
	for start := 0; start < len(paths); start += batch {
		chunk := paths[start:min(start+batch, len(paths))]
		preds, err := m.PredictFile(ctx, chunk...)
		if err != nil {
			return err
		}
		for i, p := range chunk {
			if err := emit(filePrediction{File: p, Prediction: preds[i]}); err != nil {
				return err
			}
		}
	}
	return nil
}
