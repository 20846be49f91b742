package preprocess

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureGo keeps the pixel contract importable anywhere: preprocess links neither
// TensorFlow nor cgo, nor anything of the project's above it.
func TestPureGo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps printed nothing")
	}
	for _, d := range deps {
		if d == "runtime/cgo" || strings.Contains(d, "tensorflow") || strings.Contains(d, "progressbar") ||
			(strings.HasPrefix(d, "github.com/xraylab/xray/") && d != "github.com/xraylab/xray/preprocess") {
			t.Errorf("preprocess depends on %s", d)
		}
	}
}
