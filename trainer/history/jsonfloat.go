package history

import (
	"encoding/json"
	"math"
	"strconv"
)

// A diverged run has NaN losses, and a run whose validation never improved keeps an
// infinite best loss; JSON numbers hold neither, so checkpoints and run.json would fail to
// write. Float writes them as the strings "NaN", "+Inf" and "-Inf" (and reads both).
type Float float64

func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return json.Marshal(v)
}

func (f *Float) UnmarshalJSON(b []byte) error {
	var v float64
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v = p
	} else if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// MarshalJSON writes the stats with non-finite values as strings (see Float).
func (e EpochStats) MarshalJSON() ([]byte, error) {
	type plain EpochStats
	return json.Marshal(struct {
		plain
		Loss        Float `json:"loss"`
		Accuracy    Float `json:"accuracy"`
		ValLoss     Float `json:"val_loss"`
		ValAccuracy Float `json:"val_accuracy"`
		ValAUC      Float `json:"val_auc"`
	}{plain(e), Float(e.Loss), Float(e.Accuracy), Float(e.ValLoss), Float(e.ValAccuracy), Float(e.ValAUC)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *EpochStats) UnmarshalJSON(b []byte) error {
	type plain EpochStats
	aux := struct {
		*plain
		Loss        Float `json:"loss"`
		Accuracy    Float `json:"accuracy"`
		ValLoss     Float `json:"val_loss"`
		ValAccuracy Float `json:"val_accuracy"`
		ValAUC      Float `json:"val_auc"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.Loss, e.Accuracy, e.ValLoss, e.ValAccuracy = float64(aux.Loss), float64(aux.Accuracy), float64(aux.ValLoss), float64(aux.ValAccuracy)
	e.ValAUC = float64(aux.ValAUC)
	return nil
}
