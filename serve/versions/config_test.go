package versions

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadModelConfigRefuses: files TensorFlow Serving's --model_config_file would not
// take, or that xray cannot serve, are refused with ErrModelConfig naming the file.
func TestReadModelConfigRefuses(t *testing.T) {
	dir := t.TempDir()
	for what, text := range map[string]string{
		"not text proto": "model_config_list {",
		"empty":          "",
		"no base_path":   `model_config_list { config { name: "a" } }`,
		"platform":       `model_config_list { config { name: "a" base_path: "/m" model_platform: "pytorch" } }`,
		"same name":      `model_config_list { config { name: "a" base_path: "/m" } config { name: "a" base_path: "/n" } }`,
		"no versions":    `model_config_list { config { name: "a" base_path: "/m" model_version_policy { specific { } } } }`,
	} {
		p := filepath.Join(dir, "bad.config")
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := ReadModelConfig(p); !errors.Is(err, ErrModelConfig) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrModelConfig naming the file", what, err)
		}
	}
	if _, err := ReadModelConfig(filepath.Join(dir, "missing.config")); !errors.Is(err, ErrModelConfig) {
		t.Errorf("a missing file: %v, want ErrModelConfig", err)
	}
}
