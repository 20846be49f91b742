package savedmodels

import "github.com/xraylab/xray/savedmodels/internal/smgraph"

// Signature, tensor and file names of the SavedModel format (see the package doc), which
// package savedmodels/export writes and Load reads.
const (
	SignatureDefault = "serving_default"
	SignatureBytes   = "serving_bytes"
	// SignatureGradCAM is serving_bytes plus OutputHeatmap: the default explanation
	// (tfgraph.DefaultCAM of tfgraph.DefaultLayer, Metadata.GradCAM) of the predicted class.
	SignatureGradCAM = "serving_gradcam"

	InputImage          = "image"
	InputImageBytes     = "image_bytes"
	OutputProbabilities = "probabilities"
	OutputClassID       = "class_id"
	OutputHeatmap       = "heatmap"

	ServeTag     = "serve"
	MetadataFile = smgraph.MetadataFile
)
