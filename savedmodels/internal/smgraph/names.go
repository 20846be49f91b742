package smgraph

// Names in the SavedModels xray writes that more than one writer (Export, adapt,
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
