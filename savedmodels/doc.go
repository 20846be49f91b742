// Package savedmodels serves the TensorFlow SavedModels xray writes: the API other Go
// services import. It also owns the format's vocabulary, which its writers share:
// the signature, input and output names (SignatureDefault, InputImageBytes, ...), the
// metadata (Metadata, kept in MetadataFile) and reading it back (ReadMetaGraph). A
// SavedModel carries its own preprocessing and metadata, so whoever loads it (this
// package, Python, TensorFlow Serving) gets the same probabilities from the same image
// files. Package savedmodels/export writes one from a model built in Go (tfgraph); its
// package doc describes the directory and the signatures; savedmodels/adapt and
// savedmodels/ensemble write derived ones.
//
//	err := export.SavedModel("runs/m/savedmodel", sess, model, savedmodels.Metadata{RunID: id})
//
//	m, err := savedmodels.Load("runs/m/savedmodel", savedmodels.Options{})
//	if errors.Is(err, savedmodels.ErrNotFound) { ... }
//	defer m.Close()
//	preds, err := m.PredictFile(ctx, "scan.jpeg")  // or Predict(images), PredictBytes(files)
//	fmt.Println(preds[0].Label, preds[0].Probabilities, preds[0].Err)
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
// Explain runs serving_gradcam, or adds Grad-CAM of another layer (ExplainOptions.Layer)
// from the layers the SavedModel lists; models exported before serving_gradcam existed
// still load and predict, and Explain on them fails with ErrNoGradCAM.
//
// A service module needs, besides `require github.com/xraylab/xray`, the replace that
// makes tfgo's TensorFlow binding resolve to graft (see examples/service/go.mod) and cgo
// flags for the TensorFlow C library (scripts/env.sh). docs/serving.md covers Python,
// TensorFlow Serving and the measured agreement between the two signatures.
package savedmodels
