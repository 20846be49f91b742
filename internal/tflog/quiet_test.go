package tflog

import (
	"strings"
	"testing"
)

// TestFilter: lines as TensorFlow 2.18 prints them (copied from a run of xray train);
// Abseil lines below the level go, everything else stays in order.
func TestFilter(t *testing.T) {
	in := strings.Join([]string{
		"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
		"I0000 00:00:1795902165.182936   25465 mlir_graph_optimization_pass.cc:401] MLIR V1 optimization pass is not enabled",
		"W0000 00:00:1795902165.182936   25465 some_pass.cc:12] a warning",
		"E0000 00:00:1795902165.182936   25465 some_pass.cc:13] an error",
		"xray: something of our own",
	}, "\n")
	for level, want := range map[int][]string{
		0: {"WARNING: All log messages", "I0000", "W0000", "E0000", "xray:"},
		1: {"W0000", "E0000", "xray:"},
		2: {"E0000", "xray:"},
		3: {"xray:"},
	} {
		var b strings.Builder
		if err := Filter(&b, strings.NewReader(in), level); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(got) != len(want) {
			t.Errorf("level %d: %q, want lines starting %q", level, got, want)
			continue
		}
		for i, p := range want {
			if !strings.HasPrefix(got[i], p) {
				t.Errorf("level %d: line %d is %q, want it to start %q", level, i, got[i], p)
			}
		}
	}
}
