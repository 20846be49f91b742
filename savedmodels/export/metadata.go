package export

import (
	"fmt"

	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
)

// withDefaults fills what the model itself says and checks the rest.
func withDefaults(meta savedmodels.Metadata, m *tfgraph.Model, size int) (savedmodels.Metadata, error) {
	if meta.Arch == "" {
		meta.Arch = m.Config.Arch
	}
	if m.Config.Arch != "" && meta.Arch != m.Config.Arch {
		return meta, fmt.Errorf("metadata architecture %q != the model's %q", meta.Arch, m.Config.Arch)
	}
	if m.Config.Pool != "" && meta.Pool != "" && meta.Pool != m.Config.Pool {
		return meta, fmt.Errorf("metadata pooling %q != the model's %q", meta.Pool, m.Config.Pool)
	}
	if meta.InputSize == 0 {
		meta.InputSize = size
	}
	if meta.InputSize != size {
		return meta, fmt.Errorf("metadata input size %d != the model's input %d", meta.InputSize, size)
	}
	if meta.Pool == "" {
		meta.Pool = m.Config.Pool
	}
	if meta.Pool == "" {
		meta.Pool = tfgraph.PoolAvg
	}
	if meta.Preprocessing == "" {
		meta.Preprocessing = preprocess.Unit
	}
	meta.GradCAM = tfgraph.DefaultCAM // what addGradCAM builds
	if err := meta.Preprocessor().Validate(); err != nil {
		return meta, fmt.Errorf("metadata: %w", err)
	}
	if len(meta.Classes) == 0 {
		meta.Classes = labels.Default().Names()
	}
	if _, err := labels.New(meta.Classes...); err != nil {
		return meta, fmt.Errorf("metadata: %w", err)
	}
	if n := outputWidth(m); len(meta.Classes) != n {
		return meta, fmt.Errorf("metadata: %d class names %q, the model has %d outputs", len(meta.Classes), meta.Classes, n)
	}
	if err := meta.ValidateThreshold(); err != nil {
		return meta, fmt.Errorf("metadata: %w", err)
	}
	if meta.XrayVersion == "" {
		meta.XrayVersion = buildinfo.Version
	}
	if meta.TFVersion == "" {
		meta.TFVersion = buildinfo.TensorFlowVersion()
	}
	return meta, nil
}

// outputWidth is the number of classes the model outputs: its probabilities' last
// dimension, or Config.Classes (default 2) when the graph does not know it.
func outputWidth(m *tfgraph.Model) int {
	if m.Probs.Op != nil {
		if sh := m.Probs.Shape(); sh.NumDimensions() == 2 && sh.Size(1) > 0 {
			return int(sh.Size(1))
		}
	}
	if m.Config.Classes > 0 {
		return m.Config.Classes
	}
	return tfgraph.NumClasses
}
