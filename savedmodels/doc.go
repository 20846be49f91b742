// Package savedmodels writes models built in Go (tfgraph) as TensorFlow SavedModels and
// serves them: the API other Go services import. A SavedModel it writes carries its own
// preprocessing and metadata, so whoever loads it (this package, Python, TensorFlow
// Serving) gets the same probabilities from the same image files.
//
//	err := savedmodels.Export("runs/m/savedmodel", sess, model, savedmodels.Metadata{RunID: id})
//
//	m, err := savedmodels.Load("runs/m/savedmodel", savedmodels.Options{})
//	if errors.Is(err, savedmodels.ErrNotFound) { ... }
//	defer m.Close()
//	preds, err := m.PredictFile(ctx, "scan.jpeg")  // or Predict(images), PredictBytes(files)
//	fmt.Println(preds[0].Label, preds[0].Probabilities, preds[0].Err)
//
// # Export
//
// Export(dir, sess, model, meta) writes, atomically (a temporary directory renamed into
// place),
//
//	dir/saved_model.pb                          SavedModel, one MetaGraphDef tagged "serve"
//	dir/variables/variables.index               checkpoint written by TensorFlow's SaveV2,
//	dir/variables/variables.data-00000-of-00001 keys = Keras weight paths ("conv_dw_1/depthwise_kernel")
//	dir/assets.extra/xray.json                  Metadata: architecture, input size, pooling,
//	                                            preprocessing, class names, run id, versions,
//	                                            operating threshold (when training chose one)
//
// The MetaGraphDef holds the inference path of the graph only, a TF1 saver (filename
// tensor save/Const:0, save/control_dependency:0, save/restore_all), the variables as
// resource VariableDefs in the "variables" and "trainable_variables" collections (so
// Python's loader lifts them into the loaded object's .variables), the metadata once more
// in meta_info_def (meta_graph_version: a one-line summary; any_info: the JSON), and three
// signatures:
//
//	serving_default  image        float32 [-1, S, S, 3]  preprocessed pixels
//	serving_bytes    image_bytes  string  [-1]           JPEG or PNG file contents
//	both ->          probabilities float32 [-1, C]  softmax, by class id (package labels)
//	                 class_id      int64   [-1]     argmax
//	serving_gradcam  image_bytes -> probabilities, class_id and
//	                 heatmap       float32 [-1, S, S]  Grad-CAM of class_id, in [0, 1]
//
// serving_gradcam's heatmap is tfgraph.AddGradCAM on the network's feature map (the
// backbone's last convolutional layer), for the class fed to gradcam/class (a
// PlaceholderWithDefault over class_id, which Go's Explain feeds for a named class).
// Models exported before it existed still load and predict; Explain on them fails with
// ErrNoGradCAM. The collection xray_layer_outputs lists the tensors of the layers with a
// feature map (and the logits), from which Explain adds Grad-CAM of another layer
// (ExplainOptions.Layer) to the loaded graph.
//
// Both signatures share one copy of the network: its input is a PlaceholderWithDefault
// fed directly by serving_default and defaulting, for serving_bytes, to the in-graph
// preprocessing of image_bytes (a MapDefun over the batch): package preprocess's own
// GraphDef, the graph Predict, PredictBytes and training run, so serving_bytes gives
// the same bits (docs/preprocessing.md).
//
// # Serving from Go
//
// Load returns a Model whose Predict (decoded images), PredictBytes (encoded files) and
// PredictFile (paths) preprocess in-process with preprocess.Preprocessor and run
// serving_default. A Model is safe for concurrent use: one dispatcher goroutine gathers
// concurrent calls into batches of up to Options.MaxBatch images, waiting at most
// Options.MaxDelay for a batch to fill. A bad image is an error for that image only
// (Prediction.Err); a done context ends a call with its error; Close releases the session.
// Load's error is a *LoadError matching ErrNotFound, ErrNotXray or ErrDamaged.
// Explain, ExplainWith, ExplainFile and ExplainPixels add each image's Grad-CAM heatmap (Explanation;
// package explain draws overlays); they run the session directly and are safe for
// concurrent use too. Prediction.Class is the argmax; Prediction.Decision applies the model's operating
// threshold (Metadata.Threshold: pneumonia when p_pneumonia >= it; argmax without one).
//
// A service module needs, besides `require github.com/xraylab/xray`, the replace that
// makes tfgo's TensorFlow binding resolve to graft (see examples/service/go.mod) and cgo
// flags for the TensorFlow C library (scripts/env.sh). docs/serving.md covers Python,
// TensorFlow Serving and the measured agreement between the two signatures.
package savedmodels
