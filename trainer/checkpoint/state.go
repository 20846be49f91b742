package checkpoint

import (
	"encoding/json"

	"github.com/xraylab/xray/trainer/history"
	"github.com/xraylab/xray/trainer/schedule"
)

// State is the training loop's position, saved with the weights.
type State struct {
	Epoch        int                  `json:"epoch"` // epochs completed
	Step         int64                `json:"step"`  // optimizer updates applied
	Seed         int64                `json:"seed"`
	BestEpoch    int                  `json:"best_epoch"`
	BestValLoss  float64              `json:"best_val_loss"`
	BadEpochs    int                  `json:"bad_epochs"` // epochs since the best, for early stopping
	History      []history.EpochStats `json:"history"`
	ManifestHash string               `json:"manifest_sha256"`
	Arch         string               `json:"arch"`
	Plateau      *schedule.Plateau    `json:"plateau,omitempty"` // the plateau schedule's state
}

// PlateauLR is the plateau schedule's current rate (0 under the other schedules).
func (st *State) PlateauLR() float64 {
	if st.Plateau == nil {
		return 0
	}
	return st.Plateau.LR
}

// MarshalJSON writes the state with a non-finite best loss as a string (see history.Float).
func (s State) MarshalJSON() ([]byte, error) {
	type plain State
	return json.Marshal(struct {
		plain
		BestValLoss history.Float `json:"best_val_loss"`
	}{plain(s), history.Float(s.BestValLoss)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	aux := struct {
		*plain
		BestValLoss history.Float `json:"best_val_loss"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s.BestValLoss = float64(aux.BestValLoss)
	return nil
}
