package predictstream

import (
	"encoding/json"
	"io"
	"os"
	"strings"

	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels"
)

// Line is one file's result: one line of `xray predict`'s output.
type Line struct {
	File  string
	DICOM *dicom.Info // the header of a DICOM file; nil for other files
	savedmodels.Prediction
	Classes []string // the model's class names by id (Metadata.Classes)
}

// MarshalJSON writes {"file", "class", "class_id", "probability" (of that class),
// "probabilities" (by class id: [normal, pneumonia] for the paper's models),
// "class_probabilities" (the same by class name), "decision_id" (by the model's
// operating threshold)}, with "sop_instance_uid" and "view_position" (when present) for
// a DICOM file and nothing that identifies the patient, or {"file", "error"} for a file
// that failed.
func (p Line) MarshalJSON() ([]byte, error) {
	if p.Err != nil {
		return json.Marshal(struct {
			File  string `json:"file"`
			Error string `json:"error"`
		}{p.File, p.Message()})
	}
	var sop, view string
	if p.DICOM != nil {
		sop, view = p.DICOM.SOPInstanceUID, p.DICOM.ViewPosition
	}
	return json.Marshal(struct {
		File           string             `json:"file"`
		Class          string             `json:"class"`
		ClassID        int                `json:"class_id"`
		Probability    float32            `json:"probability"`
		Probabilities  []float32          `json:"probabilities"`
		Named          map[string]float32 `json:"class_probabilities,omitempty"`
		DecisionID     int                `json:"decision_id"`
		SOPInstanceUID string             `json:"sop_instance_uid,omitempty"`
		ViewPosition   string             `json:"view_position,omitempty"`
	}{p.File, p.Label, p.Class, p.Probabilities[p.Class], p.Probabilities, p.named(), p.Decision, sop, view})
}

// named maps each class name to its probability (nil without Classes).
func (p Line) named() map[string]float32 {
	if len(p.Classes) != len(p.Probabilities) {
		return nil
	}
	out := make(map[string]float32, len(p.Probabilities))
	for i, v := range p.Probabilities {
		out[p.Classes[i]] = v
	}
	return out
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

// dicomInfo reads the header of a DICOM file: nil for any other file, and for one whose
// header does not read (its prediction already carries the error).
func dicomInfo(path string) *dicom.Info {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, 132)
	if _, err := io.ReadFull(f, head); err != nil || !dicom.Is(head) {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	info, err := dicom.ReadInfo(b)
	if err != nil {
		return nil
	}
	return &info
}
