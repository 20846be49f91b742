// Package explain benchmarks Grad-CAM explanations: savedmodels' Explain (what xray
// explain runs: Go preprocessing, then serving_gradcam's outputs in one session run per
// batch) against the Python reference, tf.GradientTape on the Keras model
// (scripts/ref/gradcam_keras.py --bench; eager as the Keras example runs it, and compiled
// in a tf.function), on the same model (Keras's seeded random
// weights, moved onto the Go graph and exported) and the same images, and prints the
// ratio. Not part of the tests (benchmarks only run with -bench):
//
//	source scripts/env.sh
//	go test ./bench/explain -run '^$' -bench . -benchtime 3x
//
// XRAY_BENCH_ARCH (default mobilenet) and XRAY_BENCH_SIZE (default 224) choose the model;
// the images are the first XRAY_BENCH_N (default 16) X-rays of testdata/chest_xray, one
// batch. Python's time excludes reading the files (it times the tape on loaded pixels);
// Go's includes preprocessing the decoded images.
package explain

import (
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"codeberg.org/sbinet/npyio/npz"
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/tfgraph"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func BenchmarkExplain(b *testing.B) {
	arch := env("XRAY_BENCH_ARCH", tfgraph.MobileNet)
	size, err1 := strconv.Atoi(env("XRAY_BENCH_SIZE", "224"))
	n, err2 := strconv.Atoi(env("XRAY_BENCH_N", "16"))
	if err1 != nil || err2 != nil {
		b.Fatalf("XRAY_BENCH_SIZE / XRAY_BENCH_N: %v %v", err1, err2)
	}
	files, _ := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "*", "*", "*.jpeg"))
	slices.Sort(files)
	if len(files) < n {
		b.Fatalf("%d X-rays in testdata/chest_xray, want %d", len(files), n)
	}
	files = files[:n]
	args := []string{"--arch", arch, "--size", strconv.Itoa(size)}
	key := append([]string{"gradcam_keras.py", pyref.FileHash(b, pyref.Script("gradcam_keras.py"))}, args...)
	for _, f := range files {
		key = append(key, pyref.FileHash(b, f))
	}
	ref := pyref.CacheDir(b, key...)
	if _, err := os.Stat(filepath.Join(ref, "ref.npz")); err != nil {
		pyref.Run(b, pyref.Script("gradcam_keras.py"), append(append(args, "--out", ref), files...)...)
	}
	model := exportKerasModel(b, arch, size, filepath.Join(ref, "ref.npz"))
	defer model.Close()
	images := make([]image.Image, n)
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if images[i], err = preprocess.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	// plain Grad-CAM of the last feature map: the computation the Keras loop times (the
	// default, the margin on the stride-16 map, differentiates a shorter path)
	plain := savedmodels.ExplainOptions{Method: tfgraph.CAMGradCAM}
	if _, err := model.ExplainWith(ctx, plain, images...); err != nil { // warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := model.ExplainWith(ctx, plain, images...); err != nil {
			b.Fatal(err)
		}
	}
	ours := float64(b.N*n) / time.Since(start).Seconds()
	b.StopTimer()
	out := pyref.Run(b, pyref.Script("gradcam_keras.py"), append(append(args, "--bench", "3"), files...)...)
	var py struct {
		ImagesPerS struct {
			Eager      float64 `json:"eager"`
			TFFunction float64 `json:"tf_function"`
		} `json:"images_per_s"`
	}
	if err := json.Unmarshal(out, &py); err != nil || py.ImagesPerS.Eager <= 0 || py.ImagesPerS.TFFunction <= 0 {
		b.Fatalf("Python bench output %q: %v", out, err)
	}
	eager, fn := py.ImagesPerS.Eager, py.ImagesPerS.TFFunction
	b.ReportMetric(ours, "img/s")
	b.ReportMetric(eager, "keras-eager-img/s")
	b.ReportMetric(fn, "keras-tf.function-img/s")
	b.ReportMetric(ours/eager, "x-keras-eager")
	b.ReportMetric(ours/fn, "x-keras-tf.function")
	b.Logf("%s at %d px, %d images per call, GOMAXPROCS=%d: xray Explain %.2f img/s; Keras tf.GradientTape eager %.2f img/s (ratio %.2f), in a tf.function %.2f img/s (ratio %.2f)",
		arch, size, n, runtime.GOMAXPROCS(0), ours, eager, ours/eager, fn, ours/fn)
}

// exportKerasModel builds arch at size, sets the Keras reference's weights (w/<path> in
// the npz), exports it and loads it for serving.
func exportKerasModel(b *testing.B, arch string, size int, npzPath string) *savedmodels.Model {
	b.Helper()
	m, err := tfgraph.Build(tfgraph.Config{Arch: arch, InputSize: size})
	if err != nil {
		b.Fatal(err)
	}
	sess, err := tf.NewSession(m.Graph, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	r, err := npz.Open(npzPath)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	values := map[string]*tf.Tensor{}
	for _, v := range m.Variables {
		var data []float32
		if err := r.Read("w/"+v.Name+".npy", &data); err != nil {
			b.Fatalf("%s: %v", v.Name, err)
		}
		t, err := tf.NewTensor(data)
		if err == nil {
			err = t.Reshape(v.Shape)
		}
		if err != nil {
			b.Fatalf("%s: %v", v.Name, err)
		}
		values[v.Name] = t
	}
	if err := tfgraph.SetValues(sess, m.Variables, values); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		b.Fatal(err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return model
}
