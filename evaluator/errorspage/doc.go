// Package errorspage writes errors.html beside an evaluation's report: the most
// confidently misclassified images of a split (up to MaxCards false positives and false
// negatives), each with the Grad-CAM overlay of the class it was wrongly given
// (savedmodels' serving_gradcam, drawn by package explain). Its Input is the
// predict.Input that produced the records, the records, and the decision the report used;
// the model is loaded as predict.Split loads it (Input.Load: the same DICOM window), and
// each image is decoded and explained as it was evaluated.
//
// The page is self-contained (images inline) and written atomically. Write prints
// nothing; it fails with savedmodels.ErrNoGradCAM for a model exported without heatmaps
// (xray evaluate then warns and goes on).
//
//	err := errorspage.Write(ctx, "runs/m/eval-test", errorspage.Input{Input: in, Records: recs})
package errorspage
