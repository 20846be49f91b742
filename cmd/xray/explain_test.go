package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"google.golang.org/protobuf/proto"
)

type explainLine struct {
	File         string  `json:"file"`
	Error        string  `json:"error"`
	Class        string  `json:"class"`
	ClassID      int     `json:"class_id"`
	Probability  float32 `json:"probability"`
	Explained    string  `json:"explained"`
	Overlay      string  `json:"overlay"`
	Peak         struct{ X, Y int }
	PeakOriginal struct{ X, Y int } `json:"peak_original"`
}

// TestExplain: xray explain on real X-rays and an unreadable file prints one JSON line
// each, in order; the good ones name the live graph's class and the peak of the live
// graph's Grad-CAM (tfgraph, checked against Keras), and their overlay PNGs exist; the
// bad file gets its error line and exit status 1.
func TestExplain(t *testing.T) {
	const size = 32
	m, sess := savedmodelstest.TinyModel(t, size, 21)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "cli"}); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../testdata/chest_xray/test/*/*.jpeg")
	if err != nil || len(files) < 3 {
		t.Fatalf("X-rays in testdata/chest_xray/test: %v", err)
	}
	files = []string{files[0], files[len(files)-1]}
	bad := filepath.Join(t.TempDir(), "broken.jpeg")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{files[0], bad}, files[1:]...)
	out := filepath.Join(t.TempDir(), "heat")

	code, stdout, stderr := runCLI(t, append([]string{"explain", "--savedmodel", dir, "--out", out}, args...)...)
	if code != exitFailure || !strings.Contains(stderr, "1 of 3 images could not be explained") {
		t.Fatalf("exit %d, stderr %q; want 1 and the count of failures", code, stderr)
	}
	var lines []explainLine
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e explainLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, e)
	}
	if len(lines) != 3 || lines[1].File != bad || lines[1].Error == "" {
		t.Fatalf("want 3 lines with the broken file's error second:\n%s", stdout)
	}
	class, heat, err := m.GradCAM("")
	if err != nil {
		t.Fatal(err)
	}
	pre := preprocess.Preprocessor{Size: size, Scaling: preprocess.Unit}
	for _, l := range []explainLine{lines[0], lines[2]} {
		pix, err := pre.File(l.File)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := tf.NewTensor(pix)
		x.Reshape([]int64{1, size, size, 3})
		probs, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, []tf.Output{m.Probs}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := probs[0].Value().([][]float32)[0]
		want := slices.Index(p, slices.Max(p))
		ct, _ := tf.NewTensor([]int64{int64(want)})
		h, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x, class: ct}, []tf.Output{heat}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var flat []float32
		for _, row := range h[0].Value().([][][]float32)[0] {
			flat = append(flat, row...)
		}
		peak := slices.Index(flat, slices.Max(flat))
		if l.Error != "" || l.ClassID != want || l.Explained != l.Class || l.Peak.X != peak%size || l.Peak.Y != peak/size {
			t.Errorf("%s: %+v; live graph: class %d, heatmap peak (%d, %d)", l.File, l, want, peak%size, peak/size)
		}
		f, err := os.Open(l.Overlay)
		if err != nil {
			t.Fatalf("%s: overlay: %v", l.File, err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 300 || cfg.Height < 300 {
			t.Errorf("%s: overlay %s: %v %dx%d", l.File, l.Overlay, err, cfg.Width, cfg.Height)
		}
	}
}

// TestExplainOldModel: on a SavedModel exported before serving_gradcam, xray explain says
// how to export it again.
func TestExplainOldModel(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 3)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	pbPath := filepath.Join(dir, "saved_model.pb")
	b, _ := os.ReadFile(pbPath)
	var sm pb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	delete(sm.MetaGraphs[0].SignatureDef, savedmodels.SignatureGradCAM)
	b, _ = proto.Marshal(&sm)
	if err := os.WriteFile(pbPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../testdata/chest_xray/test/*/*.jpeg")
	code, _, stderr := runCLI(t, "explain", "--savedmodel", dir, "--out", t.TempDir(), files[0])
	if code != exitFailure || !strings.Contains(stderr, "xray import-keras") || !strings.Contains(stderr, "xray train --resume") {
		t.Errorf("exit %d, stderr %q; want the re-export hint", code, stderr)
	}
	code, _, stderr = runCLI(t, "explain", "--savedmodel", dir, "--alpha", "2", files[0])
	if code != exitUsage || !strings.Contains(stderr, "--alpha 2") {
		t.Errorf("--alpha 2: exit %d, stderr %q", code, stderr)
	}
}

// TestExplainOcclusion: --method occlusion writes <name>.occlusion.png and a line with the
// method and the largest drop (the drop map itself: explain TestOcclusionMatchesPython);
// a patch larger than the input is a usage error naming the flags.
func TestExplainOcclusion(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 21)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../testdata/chest_xray/test/*/*.jpeg")
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "explain", "--savedmodel", dir, "--out", out, "--method", "occlusion", "--patch", "8", "--stride", "4", files[0])
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var l struct {
		Method  string   `json:"method"`
		MaxDrop *float32 `json:"max_drop"`
		Overlay string   `json:"overlay"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); err != nil || l.Method != "occlusion" || l.MaxDrop == nil || !strings.HasSuffix(l.Overlay, ".occlusion.png") {
		t.Fatalf("line %q (%v)", stdout, err)
	}
	if _, err := os.Stat(l.Overlay); err != nil {
		t.Error(err)
	}
	code, _, stderr = runCLI(t, "explain", "--savedmodel", dir, "--out", out, "--method", "occlusion", "--patch", "64", files[0])
	if code != exitUsage || !strings.Contains(stderr, "--patch") {
		t.Errorf("--patch 64 on a 32 px model: exit %d, %q", code, stderr)
	}
	// The tiny model is not a tfgraph model: it lists no layers (savedmodels
	// TestExplainLayer explains another layer of MobileNet).
	code, _, stderr = runCLI(t, "explain", "--savedmodel", dir, "--out", out, "--layer", "conv_pw_11_relu", files[0])
	if code != exitUsage || !strings.Contains(stderr, "--layer") {
		t.Errorf("--layer on a model without layers: exit %d, %q", code, stderr)
	}
}
