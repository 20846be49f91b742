package trainer

import (
	"encoding/json"
	"math"
	"strconv"
)

// A diverged run has NaN losses, and a run whose validation never improved keeps an
// infinite best loss; JSON numbers hold neither, so checkpoints and run.json would fail to
// write. jsonFloat writes them as the strings "NaN", "+Inf" and "-Inf" (and reads both).
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
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
	*f = jsonFloat(v)
	return nil
}

// MarshalJSON writes the stats with non-finite values as strings (see jsonFloat).
func (e EpochStats) MarshalJSON() ([]byte, error) {
	type plain EpochStats
	return json.Marshal(struct {
		plain
		Loss        jsonFloat `json:"loss"`
		Accuracy    jsonFloat `json:"accuracy"`
		ValLoss     jsonFloat `json:"val_loss"`
		ValAccuracy jsonFloat `json:"val_accuracy"`
		ValAUC      jsonFloat `json:"val_auc"`
	}{plain(e), jsonFloat(e.Loss), jsonFloat(e.Accuracy), jsonFloat(e.ValLoss), jsonFloat(e.ValAccuracy), jsonFloat(e.ValAUC)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *EpochStats) UnmarshalJSON(b []byte) error {
	type plain EpochStats
	aux := struct {
		*plain
		Loss        jsonFloat `json:"loss"`
		Accuracy    jsonFloat `json:"accuracy"`
		ValLoss     jsonFloat `json:"val_loss"`
		ValAccuracy jsonFloat `json:"val_accuracy"`
		ValAUC      jsonFloat `json:"val_auc"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.Loss, e.Accuracy, e.ValLoss, e.ValAccuracy = float64(aux.Loss), float64(aux.Accuracy), float64(aux.ValLoss), float64(aux.ValAccuracy)
	e.ValAUC = float64(aux.ValAUC)
	return nil
}

// MarshalJSON writes the state with a non-finite best loss as a string (see jsonFloat).
func (s State) MarshalJSON() ([]byte, error) {
	type plain State
	return json.Marshal(struct {
		plain
		BestValLoss jsonFloat `json:"best_val_loss"`
	}{plain(s), jsonFloat(s.BestValLoss)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	aux := struct {
		*plain
		BestValLoss jsonFloat `json:"best_val_loss"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s.BestValLoss = float64(aux.BestValLoss)
	return nil
}
