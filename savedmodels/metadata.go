package savedmodels

import (
	"fmt"
	"strings"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
)

// Metadata describes a SavedModel: what it is, how its inputs are prepared, where it came
// from. Package savedmodels/export writes it to assets.extra/xray.json and, shortened, to
// the MetaGraphDef's meta_info_def.meta_graph_version; the full JSON also rides in
// meta_info_def.any_info.
type Metadata struct {
	Arch          string             `json:"architecture"`  // tfgraph.MobileNet, Xception, InceptionV3
	InputSize     int                `json:"input_size"`    // square input side in pixels
	Pool          string             `json:"pool"`          // head pooling: avg or max
	Preprocessing preprocess.Scaling `json:"preprocessing"` // pixel scaling: unit ([0,1], the paper's) or imagenet ([-1,1])
	Classes       []string           `json:"classes"`       // class names by class id; default labels.Default()
	RunID         string             `json:"run_id"`        // the training run that produced the weights
	XrayVersion   string             `json:"xray_version"`
	TFVersion     string             `json:"tensorflow_version"`
	// Threshold is the operating point training chose on its validation split; nil (older
	// models, or none chosen) decides by argmax, the paper's rule.
	Threshold *decision.Threshold `json:"threshold,omitempty"`
	// DICOMWindow is how training turned DICOM values into 8-bit gray, and so how Load
	// reads DICOM files unless Options.DICOMWindow says otherwise; nil (older models):
	// each file's own window.
	DICOMWindow *dicom.Window `json:"dicom_window,omitempty"`
	// TrainingPrecision is the Keras precision policy the weights were trained under
	// (float32, mixed_bfloat16, mixed_float16); the SavedModel itself is float32 either way.
	TrainingPrecision string `json:"training_precision,omitempty"`
	// Members lists the SavedModels an ensemble (Arch ensemble.Arch, written by ensemble.Write)
	// averages, with their digests and weights; nil for a single model.
	Members []EnsembleMember `json:"members,omitempty"`
	// TTA is how many test-time augmentation views (ensemble.TTAViews) the signatures average;
	// 0 or 1: none.
	TTA int `json:"tta,omitempty"`
	// GradCAM is the explanation serving_gradcam computes (tfgraph.CAMMargin for models
	// exported since the margin became the default); "" (older models): plain Grad-CAM,
	// tfgraph.CAMGradCAM; an ensemble's is its members' when they share one, else "mixed".
	GradCAM string `json:"gradcam_method,omitempty"`
	// Adaptation records how adapt.Run re-estimated the BatchNormalization statistics; nil
	// for a model as trained.
	Adaptation *Adaptation `json:"adaptation,omitempty"`
}

// Adaptation is the record adapt.Run leaves in the metadata of the model it writes.
type Adaptation struct {
	Mode      string `json:"mode"`          // adapt.Layerwise or adapt.Batch (package savedmodels/adapt)
	Source    string `json:"source"`        // Digest of the SavedModel adapted
	Images    int    `json:"images"`        // images the statistics were measured on
	ImageSet  string `json:"images_digest"` // "sha256:" over the sorted SHA-256 of each image file (adapt.Images: of its pixels)
	BatchSize int    `json:"batch_size"`    // images per batch (adapt.Batch's statistics depend on it)
	Layers    int    `json:"batch_norm_layers"`
	Passes    int    `json:"passes"` // passes over the images
	// DICOMWindow is the window DICOM images were read through; nil: each file's own.
	DICOMWindow *dicom.Window `json:"dicom_window,omitempty"`
	Date        string        `json:"date"` // RFC 3339, UTC
}

// Decide is the class by the model's operating threshold, by argmax when it has none
// (a threshold exists only for two classes; see ValidateThreshold).
func (m Metadata) Decide(probs []float32) int {
	if m.Threshold == nil || len(probs) != 2 {
		return argmaxClass(probs)
	}
	return m.Threshold.Class([2]float64{float64(probs[0]), float64(probs[1])})
}

// argmaxClass is the first index of the largest value, as tf.argmax.
func argmaxClass(p []float32) int {
	k := 0
	for i, v := range p {
		if v > p[k] {
			k = i
		}
	}
	return k
}

// ValidateThreshold checks the operating point (Threshold): two classes, a known rule,
// a probability.
func (m Metadata) ValidateThreshold() error {
	if t := m.Threshold; t != nil {
		if len(m.Classes) != 2 {
			return fmt.Errorf("%w: the model has %d classes (%s)", decision.ErrNotBinary, len(m.Classes), strings.Join(m.Classes, ","))
		}
		if _, err := decision.ParseRule(string(t.Rule)); err != nil {
			return err
		}
		if !(t.Value >= 0 && t.Value <= 1) {
			return fmt.Errorf("threshold %v is not a probability", t.Value)
		}
	}
	return nil
}

// Preprocessor is the Go preprocessing the model expects, the one serving_bytes mirrors.
func (m Metadata) Preprocessor() preprocess.Preprocessor {
	return preprocess.Preprocessor{Size: m.InputSize, Scaling: m.Preprocessing}
}

// Summary is the one-line form kept in meta_info_def.meta_graph_version.
func (m Metadata) Summary() string {
	return fmt.Sprintf("xray %s arch=%s input=%d pool=%s preprocessing=%s classes=%s run=%s",
		m.XrayVersion, m.Arch, m.InputSize, m.Pool, m.Preprocessing, strings.Join(m.Classes, ","), m.RunID)
}

// EnsembleMember describes one member of an ensemble in its metadata.
type EnsembleMember struct {
	Dir           string             `json:"dir"`    // the directory it was read from
	Digest        string             `json:"digest"` // Digest of that directory
	Arch          string             `json:"architecture"`
	InputSize     int                `json:"input_size"`
	Preprocessing preprocess.Scaling `json:"preprocessing"`
	RunID         string             `json:"run_id,omitempty"`
	Weight        float64            `json:"weight"` // normalized: the members' weights sum to 1
}
