package xray

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayers keeps the import arrows pointing down, so the folder names tell where a thing
// lives: the pixel contract, the class vocabulary and the decision rule import nothing of
// ours (the class vocabulary and the decision rule no TensorFlow either); model building knows nothing of data, export or training; what a service
// imports (savedmodels) pulls in no data ingest and no terminal packages.
func TestLayers(t *testing.T) {
	const mod = "github.com/xraylab/xray/"
	above := []string{"dataset", "tfgraph", "savedmodels", "kerasimport", "trainer", "evaluator", "cmd/"}
	rules := []struct {
		pkg       string
		forbidden []string // import path substrings
	}{
		{"preprocess", append([]string{mod + "labels"}, prefixed(mod, above)...)}, // TensorFlow runs its one definition
		{"labels", append([]string{"tensorflow", mod + "preprocess"}, prefixed(mod, above)...)},
		{"decision", append([]string{"tensorflow", "runtime/cgo", mod + "preprocess", mod + "labels"}, prefixed(mod, above)...)},
		{"dataset", prefixed(mod, above[1:])},
		{"tfgraph/...", append([]string{mod + "dataset", mod + "preprocess", mod + "labels"}, prefixed(mod, above[2:])...)},
		{"savedmodels", append([]string{"progressbar", "golang.org/x/term", "uniseg", mod + "dataset"}, prefixed(mod, above[3:])...)},
		{"evaluator", prefixed(mod, []string{"trainer", "kerasimport", "cmd/"})},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "./"+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", r.pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list -deps ./%s printed nothing", r.pkg)
		}
		own := strings.TrimSuffix(mod+r.pkg, "/...")
		for _, d := range deps {
			for _, bad := range r.forbidden {
				if strings.Contains(d, bad) && !strings.HasPrefix(d, own) {
					t.Errorf("%s depends on %s", r.pkg, d)
				}
			}
		}
	}
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
