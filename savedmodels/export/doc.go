// Package export writes a model built in Go (tfgraph) as a TensorFlow SavedModel that
// carries its own preprocessing and metadata, so whoever loads it (package savedmodels,
// Python, TensorFlow Serving) gets the same probabilities from the same image files:
//
//	err := export.SavedModel("runs/m/savedmodel", sess, model, savedmodels.Metadata{RunID: id})
//
// SavedModel reads the variables' current values from sess and leaves the live graph as
// it was. It fills what the model says about itself into the metadata (architecture,
// input size, pooling, class names, versions) and refuses metadata that contradicts the
// model. The directory is written atomically: it is built in a temporary directory
// beside dir and renamed into place, so an existing dir is replaced only once the new one
// is complete, and a failed export leaves no temporary directory and any existing dir as
// it was. Errors
// name dir and wrap the cause; TensorFlow's panics do not cross the call. The session it
// saves through spends TensorFlow's once-per-process start-up lines first (tflog.Once),
// as savedmodels.Load does, so a library user sees none.
//
// The names (signatures, inputs, outputs, MetadataFile) and Metadata are package
// savedmodels', which loads what this package writes.
//
// # What a SavedModel holds
//
// SavedModel(dir, sess, model, meta) writes
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
// PlaceholderWithDefault over class_id, which savedmodels' Explain feeds for a named
// class). Models exported before it existed still load and predict; Explain on them fails
// with savedmodels.ErrNoGradCAM. The collection xray_layer_outputs lists the tensors of
// the layers with a feature map (and the logits), from which Explain adds Grad-CAM of
// another layer (savedmodels.ExplainOptions.Layer) to the loaded graph.
//
// Both signatures share one copy of the network: its input is a PlaceholderWithDefault
// fed directly by serving_default and defaulting, for serving_bytes, to the in-graph
// preprocessing of image_bytes (a MapDefun over the batch): package preprocess's own
// GraphDef, the graph savedmodels' Predict, PredictBytes and training run, so
// serving_bytes gives the same bits (docs/preprocessing.md).
package export
