// Package savedmodels exports models built in Go (tfgraph) as TensorFlow SavedModels, and
// serves them: the API other Go services import.
//
// # Export
//
// Export(dir, sess, model, meta) writes
//
//	dir/saved_model.pb                          SavedModel, one MetaGraphDef tagged "serve"
//	dir/variables/variables.index               checkpoint written by TensorFlow's SaveV2,
//	dir/variables/variables.data-00000-of-00001 keys = Keras weight paths ("conv_dw_1/depthwise_kernel")
//	dir/assets.extra/xray.json                  Metadata: architecture, input size, pooling,
//	                                            preprocessing, class names, run id, versions
//
// The MetaGraphDef holds the inference path of the graph only (the training paths are
// pruned), a TF1 saver (SaveV2/RestoreV2 over the variables: filename tensor save/Const:0,
// save/control_dependency:0, save/restore_all), the variables as resource VariableDefs in
// the "variables" and "trainable_variables" collections (so Python's loader lifts them
// into the loaded object's .variables), the metadata once more in meta_info_def
// (meta_graph_version: a one-line summary; any_info: the JSON), and two signatures:
//
//	serving_default  image        float32 [-1, S, S, 3]  preprocessed pixels
//	serving_bytes    image_bytes  string  [-1]           JPEG or PNG file contents
//	both ->          probabilities float32 [-1, 2]  softmax, 0 = normal, 1 = pneumonia
//	                 class_id      int64   [-1]     argmax
//
// Both signatures share one copy of the network: its input is a PlaceholderWithDefault
// named like the model's input, fed directly by serving_default and defaulting to the
// in-graph preprocessing of image_bytes (a MapDefun over the batch, since files differ in
// size) for serving_bytes. That preprocessing mirrors preprocess.Preprocessor (decode, RGB,
// imaging's two-pass Linear resize with its uint8 rounding, scaling); see preprocessBody
// for the steps and the tests for the measured agreement: PNG pixels within 1 level,
// JPEG pixels within 2 levels (mean < 0.06), probabilities within 2e-3 (measured: 1.5e-4).
//
// Python loads a SavedModel with
//
//	m = tf.saved_model.load(dir)
//	m.signatures["serving_default"](image=x)           # x: float32 [n, S, S, 3]
//	m.signatures["serving_bytes"](image_bytes=files)   # files: tf.string [n]
//
// and `saved_model_cli show --dir DIR --all` lists both signatures.
//
// # TensorFlow Serving
//
// TensorFlow Serving wants a model base directory holding numbered versions. A run's
// savedmodel/ directory is one version:
//
//	mkdir -p models/xray && cp -r runs/RUN/savedmodel models/xray/1
//	docker run -p 8501:8501 -v "$PWD/models/xray:/models/xray" -e MODEL_NAME=xray tensorflow/serving
//	curl -d '{"signature_name": "serving_default", "instances": [...]}' localhost:8501/v1/models/xray:predict
//
// serving_bytes takes base64 strings in REST ({"b64": "..."}).
//
// # Serving from Go
//
// Load(dir, Options) returns a Model whose Predict (images of any size) and PredictBytes
// (encoded files) preprocess in Go with preprocess.Preprocessor and run serving_default. A
// Model is safe for concurrent use: one dispatcher goroutine gathers concurrent calls into
// batches of up to Options.MaxBatch images, waiting at most Options.MaxDelay for a batch
// to fill. A bad image is an error for that image only (Prediction.Err). Tensors are
// released (memory stays flat over 10 000 predictions, see TestPredictMemoryFlat), and a
// done context ends a call with its error. Close releases the session.
//
// A service module needs, besides `require github.com/xraylab/xray`, the replace that
// makes tfgo's TensorFlow binding resolve to graft (see examples/service/go.mod) and cgo
// flags for the TensorFlow C library (scripts/env.sh).
//
// The race test: `go test -race ./savedmodels/` (the 10 000-prediction memory test skips
// under -race, whose shadow memory makes RSS meaningless).
package savedmodels
