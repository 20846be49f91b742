// Package browsertest finds the headless browser that the page tests drive with chromedp.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of Debian's chromium (or another Chromium-family browser on
// PATH). It skips the test on a developer machine without one and fails it under CI,
// where scripts/setup.sh installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium required in CI (scripts/setup.sh installs it)")
	}
	t.Skip("no chromium on PATH")
	return ""
}
