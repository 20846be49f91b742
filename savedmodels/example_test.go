package savedmodels_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/tfgraph"
)

// Export a model built in Go, then serve it. The model here is untrained, and its answer
// is known without running it: in inference mode an untrained backbone's
// BatchNormalization layers use their initial moving statistics (mean 0, variance 1)
// while the real activations of the deep layers have variances near 1e-3, so the signal
// shrinks layer by layer to float32 nothing (see trainer.DemoConfig). The head's Dense
// layers then see zeros, both logits equal the zero-initialised bias, and softmax(0, 0) =
// (0.5, 0.5) for every image: a tie, which goes to class 0 (normal) as np.argmax's does.
// A training run exports its trained model the same way, to RUN/savedmodel.
func Example() {
	m, err := tfgraph.Build(tfgraph.Config{Arch: tfgraph.MobileNet, InputSize: 128})
	if err != nil {
		log.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	if err := tfgraph.Initialize(sess, m.Variables); err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "xray-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "example"}); err != nil {
		log.Fatal(err)
	}

	// What a service does: load once, predict from many goroutines, close at exit.
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	xray, err := os.ReadFile("../testdata/chest_xray/test/PNEUMONIA/person1108_bacteria_3049.jpeg")
	if err != nil {
		log.Fatal(err)
	}
	preds, err := model.PredictBytes(context.Background(), xray, []byte("not an image"))
	if err != nil {
		log.Fatal(err)
	}
	meta := model.Metadata()
	fmt.Println(meta.Arch, meta.InputSize, meta.Preprocessing, meta.Classes)
	for _, p := range preds {
		if p.Err != nil {
			fmt.Println("error:", p.Err)
			continue
		}
		fmt.Printf("%s %.4f %.4f\n", p.Label, p.Probabilities[0], p.Probabilities[1])
	}
	// Output:
	// mobilenet 128 unit [normal pneumonia]
	// normal 0.5000 0.5000
	// error: not a JPEG, PNG or DICOM image
}
