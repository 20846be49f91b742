package predictstream

import (
	"encoding/json"
	"strings"

	"github.com/xraylab/xray/savedmodels"
)

// Line is one file's result: one line of `xray predict`'s output.
type Line struct {
	File string
	savedmodels.Prediction
}

// MarshalJSON writes {"file", "class", "class_id", "probability" (of that class),
// "probabilities" ([normal, pneumonia]), "decision_id" (by the model's operating
// threshold)}, or {"file", "error"} for a file that failed.
func (p Line) MarshalJSON() ([]byte, error) {
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

// Message is Err's text without the file name that starts it (the output shows the file
// beside it); "" when there is no error.
func (p Line) Message() string {
	if p.Err == nil {
		return ""
	}
	s := p.Err.Error()
	for _, prefix := range []string{p.File + ": ", "open " + p.File + ": ", "read " + p.File + ": "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}
