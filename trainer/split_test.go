package trainer

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraylab/xray/dataset"
)

// Without a manifest the run splits Data with its Scheme: kaggle with the val/ folder
// keeps testdata's folders (60 + 62 train, 3 + 3 val, 16 + 17 test).
func TestOwnSplitScheme(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Data, cfg.Out, cfg.InputSize = sampleRoot(), t.TempDir(), 128
	cfg.Scheme, cfg.ValFromFolder, cfg.Quiet = string(dataset.Kaggle), true, true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := openData(context.Background(), cfg, newLogger(nil)); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.ReadManifest(filepath.Join(cfg.Out, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := dataset.Counts{dataset.Train: {60, 62}, dataset.Val: {3, 3}, dataset.Test: {16, 17}}
	got := dataset.Count(m.Entries)
	for _, s := range dataset.Subsets {
		if !slices.Equal(got[s], want[s]) {
			t.Errorf("%s: %v images (normal, pneumonia), want the folder's %v", s, got[s], want[s])
		}
	}
	if m.Scheme != dataset.Kaggle {
		t.Errorf("manifest scheme %q, want kaggle", m.Scheme)
	}

	bad := cfg
	bad.Scheme = "random"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "unknown split scheme") {
		t.Errorf("scheme random: err %v", err)
	}
	bad = cfg
	bad.Manifest = "m.csv"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "only without a manifest") {
		t.Errorf("scheme with a manifest: err %v", err)
	}
}
