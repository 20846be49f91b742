package savedmodels_test

import (
	"context"
	"errors"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

// Tolerances of the Grad-CAM comparisons, after the [0, 1] scaling.
const (
	heatTol = 1e-5 // the same pixels through the same ops: in practice 0
	// serving_gradcam decodes the files in the graph, whose pixels differ from Go's by a
	// level here and there (see bytesProbTol); a random network's heatmap amplifies that
	// locally (measured: max 0.048, mean 0.0026 on MobileNet at 128), so the bound is on
	// the mean with a loose max.
	bytesHeatMax, bytesHeatMean = 0.1, 5e-3
)

// checkExplain (from TestExportRoundTrip): Explain's heatmaps equal those of the live
// graph's Grad-CAM (tfgraph) and, in Python TensorFlow, of the SavedModel's heatmap tensor
// on the same pixels and of serving_gradcam on the same files.
func checkExplain(t *testing.T, model *savedmodels.Model, sess *tf.Session, m *tfgraph.Model, images []image.Image, pixels [][]float32, py *pyResult) {
	t.Helper()
	ex, err := model.Explain(context.Background(), images...)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]float32
	var ids []int64
	for i, e := range ex {
		if e.Err != nil || e.Explained != e.Class || e.Size != m.Config.InputSize {
			t.Fatalf("image %d: %+v", i, e.Prediction)
		}
		got, ids = append(got, e.Heatmap), append(ids, int64(e.Class))
	}
	class, heat, err := m.GradCAM("")
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := tf.NewTensor(ids)
	out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: batchTensor(t, m.Config.InputSize, pixels), class: ct}, []tf.Output{heat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	approx.WithinRows(t, "Explain vs live graph Grad-CAM", got, flatRows(out[0].Value().([][][]float32)), approx.Abs, heatTol)
	approx.WithinRows(t, "Explain vs Python heatmap on the same pixels", got, flatRows(py.GradCAMPixels.Heatmap), approx.Abs, heatTol)
	d := approx.WithinRows(t, "Explain vs Python serving_gradcam on the files", got, flatRows(py.GradCAM.Heatmap), approx.Abs, bytesHeatMax)
	t.Logf("Explain vs Python serving_gradcam on the files: %v", d)
	if d.Mean > bytesHeatMean {
		t.Errorf("Explain vs Python serving_gradcam on the files: mean difference %.3g > %g", d.Mean, bytesHeatMean)
	}
	if !slices.Equal(py.GradCAM.ClassID, py.Bytes.ClassID) {
		t.Errorf("serving_gradcam class_id %v, serving_bytes %v", py.GradCAM.ClassID, py.Bytes.ClassID)
	}
}

func flatRows[F float32 | float64](maps [][][]F) [][]float32 {
	rows := make([][]float32, len(maps))
	for i, m := range maps {
		for _, r := range m {
			for _, v := range r {
				rows[i] = append(rows[i], float32(v))
			}
		}
	}
	return rows
}

// TestExplainClassesAndErrors: a named class gives that class's heatmap (the live graph's
// for it), an unknown name and a nil image are errors of their own, concurrent calls
// agree, and a closed model says so.
func TestExplainClassesAndErrors(t *testing.T) {
	const size = 32
	dir, m, sess := exportTiny(t, size, 3, savedmodels.Metadata{})
	model, err := savedmodels.Load(dir, savedmodels.Options{MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	files := savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 3))
	pixels := savedmodelstest.GoPixels(t, savedmodels.ModelPreprocessor(model), files)
	images := decodeAll(t, files)
	ctx := context.Background()
	class, heat, err := m.GradCAM("")
	if err != nil {
		t.Fatal(err)
	}
	for c, name := range model.Metadata().Classes {
		ex, err := model.ExplainWith(ctx, savedmodels.ExplainOptions{Class: name}, append([]image.Image{nil}, images...)...)
		if err != nil {
			t.Fatal(err)
		}
		if ex[0].Err == nil {
			t.Error("nil image explained without error")
		}
		ct, _ := tf.NewTensor(slices.Repeat([]int64{int64(c)}, len(images)))
		out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: batchTensor(t, size, pixels), class: ct}, []tf.Output{heat}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]float32
		for _, e := range ex[1:] {
			if e.Err != nil || e.Explained != c {
				t.Fatalf("class %s: %+v explained %d", name, e.Err, e.Explained)
			}
			got = append(got, e.Heatmap)
		}
		approx.WithinRows(t, "Explain class "+name+" vs live graph", got, flatRows(out[0].Value().([][][]float32)), approx.Abs, heatTol)
	}
	if _, err := model.ExplainWith(ctx, savedmodels.ExplainOptions{Class: "viral"}, images...); !errors.Is(err, savedmodels.ErrUnknownClass) {
		t.Errorf("unknown class: %v", err)
	}

	want, err := model.Explain(ctx, images...)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := model.Explain(ctx, images...)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range got {
				if !slices.Equal(got[i].Heatmap, want[i].Heatmap) || !slices.Equal(got[i].Probabilities, want[i].Probabilities) {
					t.Errorf("concurrent Explain of image %d differs", i)
				}
			}
		}()
	}
	wg.Wait()
	model.Close()
	if _, err := model.Explain(ctx, images...); !errors.Is(err, savedmodels.ErrClosed) {
		t.Errorf("Explain after Close: %v, want ErrClosed", err)
	}
}

// TestExplainOldModel: a SavedModel without serving_gradcam (as xray wrote them before)
// still loads and predicts, and Explain says to export it again.
func TestExplainOldModel(t *testing.T) {
	dir, _, _ := exportTiny(t, 32, 5, savedmodels.Metadata{})
	pbPath := filepath.Join(dir, "saved_model.pb")
	b, err := os.ReadFile(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	var sm pb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	delete(sm.MetaGraphs[0].SignatureDef, savedmodels.SignatureGradCAM)
	if b, err = proto.Marshal(&sm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pbPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	images := decodeAll(t, savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 1)))
	if p, err := model.Predict(context.Background(), images...); err != nil || p[0].Err != nil {
		t.Fatalf("old model does not predict: %v %v", err, p)
	}
	_, err = model.Explain(context.Background(), images...)
	if !errors.Is(err, savedmodels.ErrNoGradCAM) {
		t.Fatalf("Explain on an old model: %v, want ErrNoGradCAM", err)
	}
	t.Log(err)
}

func decodeAll(t testing.TB, files [][]byte) []image.Image {
	t.Helper()
	images := make([]image.Image, len(files))
	for i, b := range files {
		var err error
		if images[i], err = preprocess.Decode(b); err != nil {
			t.Fatal(err)
		}
	}
	return images
}

// TestExplainLayer: Explain for another layer (ops added to the loaded graph) equals the
// live graph's Grad-CAM of that layer (tfgraph, checked against Keras for it), also from
// concurrent calls; an unknown layer is tfgraph.ErrUnknownLayer, naming the choices.
func TestExplainLayer(t *testing.T) {
	const size, layer = 128, "conv_pw_12_relu"
	m, sess := mobileNet(t, size)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	files := savedmodelstest.ReadFiles(t, savedmodelstest.Xrays(t, 3))
	images := decodeAll(t, files)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([][]savedmodels.Explanation, 3)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if results[g], err = model.ExplainWith(ctx, savedmodels.ExplainOptions{Layer: layer}, images...); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	class, heat, err := m.GradCAM(layer)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range results[0] {
		ids = append(ids, int64(e.Class))
	}
	ct, _ := tf.NewTensor(ids)
	out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: batchTensor(t, size, savedmodelstest.GoPixels(t, savedmodels.ModelPreprocessor(model), files)), class: ct}, []tf.Output{heat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := flatRows(out[0].Value().([][][]float32))
	for _, res := range results {
		var got [][]float32
		for _, e := range res {
			got = append(got, e.Heatmap)
		}
		approx.WithinRows(t, "Explain "+layer+" vs live graph", got, want, approx.Abs, heatTol)
	}
	def, err := model.Explain(ctx, images...)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(def[0].Heatmap, results[0][0].Heatmap) {
		t.Error("the layer's heatmap is the default layer's")
	}
	_, err = model.ExplainWith(ctx, savedmodels.ExplainOptions{Layer: "conv_pw_99_relu"}, images...)
	if !errors.Is(err, tfgraph.ErrUnknownLayer) || !strings.Contains(err.Error(), "conv_pw_13_relu") {
		t.Errorf("unknown layer: %v", err)
	}
}
