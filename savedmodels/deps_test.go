package savedmodels

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServingDependencies keeps what a service links lean: savedmodels must not pull in
// the command line's progress bar and terminal packages (they belong to dataset's ingest
// and cmd/xray), nor dataset itself.
func TestServingDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps printed nothing")
	}
	for _, d := range deps {
		for _, bad := range []string{"progressbar", "golang.org/x/term", "uniseg", "xray/dataset"} {
			if strings.Contains(d, bad) {
				t.Errorf("savedmodels depends on %s", d)
			}
		}
	}
}
