package smgraph

// Names in the SavedModels xray writes that more than one writer (export, adapt,
// ensemble) or the loader relies on.
const (
	// MetadataFile is the metadata's file in a SavedModel directory.
	MetadataFile = "assets.extra/xray.json"
	// PredictMethod is the signatures' method_name.
	PredictMethod = "tensorflow/serving/predict"
	// ClassIDOp is the ArgMax op of class_id.
	ClassIDOp = "serving/class_id"
	// GradCAMScope is the scope of serving_gradcam's ops.
	GradCAMScope = "gradcam"
	// GradCAMClassOp is a PlaceholderWithDefault over class_id: Go's Explain feeds it to
	// explain another class than the predicted one.
	GradCAMClassOp = GradCAMScope + "/class/PlaceholderWithDefault"
)

// Names of the export graph's ops and collections that Explain and tests look up.
const (
	// BytesInputOp is serving_bytes' Placeholder of encoded files.
	BytesInputOp = "image_bytes"
	// PreprocessMapOp is the MapDefun that preprocesses BytesInputOp's files in the graph.
	PreprocessMapOp = "serving_bytes/preprocess"
	// LayerCollection lists "layer<TAB>tensor" for every layer with a spatial output (and
	// LogitsKey<TAB>tensor), so Explain can add Grad-CAM for another layer after loading.
	LayerCollection = "xray_layer_outputs"
	// LogitsKey is the logits' entry in LayerCollection.
	LogitsKey = ":logits"
)
