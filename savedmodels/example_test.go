package savedmodels_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
)

// Export a model built in Go, then serve it. The model here is untrained (Keras's
// initial weights give 0.5 / 0.5 for every image); a training run exports its trained
// model the same way, to RUN/savedmodel.
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
	if err := savedmodels.Export(dir, sess, m, savedmodels.Metadata{RunID: "example"}); err != nil {
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
		fmt.Printf("%s %.2f\n", p.Label, p.Probabilities[p.Class])
	}
	// Output:
	// mobilenet 128 unit [normal pneumonia]
	// normal 0.50
	// error: not a JPEG or PNG image
}
