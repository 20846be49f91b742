package trainer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/dataset"
)

// TestShortRunLearns trains on the sample through Run with DemoConfig, as `xray demo`
// does (quietly, and from the sample folder instead of the embedded copy): the training
// loss falls and the last epoch's validation accuracy beats always
// answering the validation split's majority class.
func TestShortRunLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a two-minute training run")
	}
	cfg := DemoConfig(sampleRoot(), filepath.Join(t.TempDir(), "run"))
	cfg.Quiet = true
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkLearned(t, cfg, res)
}

// checkLearned asserts that a DemoConfig run learned: the training loss fell and the
// last epoch's validation accuracy beats the majority class's rate.
func checkLearned(t *testing.T, cfg Config, res *Result) {
	t.Helper()
	h := res.History
	if len(h) != cfg.Epochs {
		t.Fatalf("%d epochs in the history, want %d", len(h), cfg.Epochs)
	}
	first, last := h[0], h[len(h)-1]
	t.Logf("epoch 1: loss %.4f acc %.4f val_loss %.4f val_acc %.4f", first.Loss, first.Accuracy, first.ValLoss, first.ValAccuracy)
	t.Logf("epoch %d: loss %.4f acc %.4f val_loss %.4f val_acc %.4f (best epoch %d)", last.Epoch, last.Loss, last.Accuracy, last.ValLoss, last.ValAccuracy, res.BestEpoch)
	if !(last.Loss < first.Loss) {
		t.Errorf("training loss did not fall: epoch 1 %.4f, epoch %d %.4f", first.Loss, last.Epoch, last.Loss)
	}

	m, err := dataset.ReadManifest(filepath.Join(cfg.Out, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	counts := dataset.Count(m.Entries)[dataset.Val]
	n := counts[0] + counts[1]
	if n == 0 {
		t.Fatal("the run's manifest has no validation images")
	}
	majority := float64(max(counts[0], counts[1])) / float64(n)
	t.Logf("validation split: %d normal, %d pneumonia: majority rate %.4f", counts[0], counts[1], majority)
	if !(last.ValAccuracy > majority) {
		t.Errorf("final validation accuracy %.4f does not beat the majority-class rate %.4f", last.ValAccuracy, majority)
	}
	// The history on disk is the one Run returned.
	rows := readHistory(t, filepath.Join(cfg.Out, "history.csv"))
	if len(rows) != len(h) || rows[len(rows)-1][4] != roundTo8(last.ValAccuracy) {
		t.Errorf("history.csv has %d rows, last val_accuracy %v; Run returned %d, %v", len(rows), rows[len(rows)-1][4], len(h), last.ValAccuracy)
	}
}
