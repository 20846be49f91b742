package savedmodels

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

// adaptJob is one job of scripts/ref/adapt_ref.py and its answer.
type adaptJob struct {
	Src       string   `json:"src"`
	Pixels    string   `json:"pixels"`
	Images    int      `json:"images"`
	Size      int      `json:"size"`
	Mode      string   `json:"mode"`
	BatchSize int      `json:"batch_size"`
	Dump      []string `json:"dump"`
	Compare   []string `json:"compare"`
}

type adaptRef struct {
	Layers      []string                `json:"layers"`
	Reference   map[string][2][]float64 `json:"reference"`
	Predictions [][]float64             `json:"predictions"`
	Dump        map[string]struct {
		Stats       map[string][2][]float64 `json:"stats"`
		Predictions [][]float64             `json:"predictions"`
	} `json:"dump"`
	Compare map[string]struct {
		Differ   []string `json:"differ"`
		Compared int      `json:"compared"`
	} `json:"compare"`
}

// runAdaptRef runs every job in one Python process.
func runAdaptRef(t *testing.T, jobs []adaptJob) []adaptRef {
	t.Helper()
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{"jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "config.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(in, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	pyref.Run(t, pyref.Script("adapt_ref.py"), in, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Jobs []adaptRef }
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// exportBackbone exports savedmodelstest.Backbone at the architecture's smallest input.
func exportBackbone(t *testing.T, arch string, classes int) (string, *tfgraph.Model) {
	t.Helper()
	cfg := tfgraph.Config{Arch: arch, InputSize: tfgraph.MinInputSize(arch), Classes: classes, Seed: 5}
	m, sess := savedmodelstest.Backbone(t, cfg)
	dir := filepath.Join(t.TempDir(), "src")
	names := []string{"normal", "pneumonia"}
	if classes == 3 {
		names = []string{"normal", "bacterial", "viral"}
	}
	if err := Export(dir, sess, m, Metadata{RunID: "adapt-test", Classes: names}); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// writePixels preprocesses files as Adapt does and writes them as raw float32 for Python.
func writePixels(t *testing.T, meta Metadata, files []string) (string, [][]float32) {
	t.Helper()
	pix := goPixels(t, meta.preprocessor(), readFiles(t, files))
	var raw []byte
	for _, p := range pix {
		raw = append(raw, floatBytes(p)...)
	}
	path := filepath.Join(t.TempDir(), "pixels.f32")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, pix
}

// paths is a source of the given paths (predictstream.Paths, which imports this package).
func paths(files []string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, f := range files {
			if !yield(f, nil) {
				return
			}
		}
	}
}

func adaptOK(t *testing.T, src, dst string, files []string, opts AdaptOptions) *Adaptation {
	t.Helper()
	opts.Now = func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) }
	ad, err := Adapt(context.Background(), src, dst, paths(files), opts)
	if err != nil {
		t.Fatal(err)
	}
	return ad
}

// TestAdaptMatchesPython adapts a MobileNet (BatchNormalization statistics away from the
// images' own) layer by layer and in batch mode, adapts the result once more, and checks
// against Python TensorFlow doing the same computation on the same SavedModel and pixels:
// the statistics (relative 1e-5), every other variable bit for bit, idempotence (1e-6),
// the adapted SavedModel's predictions in Go and Python, its signatures and metadata.
func TestAdaptMatchesPython(t *testing.T) {
	src, m := exportBackbone(t, tfgraph.MobileNet, 2)
	files := xrays(t, MinAdaptImages)
	out := t.TempDir()
	lw, twice, batch := filepath.Join(out, "layerwise"), filepath.Join(out, "twice"), filepath.Join(out, "batch")
	ad := adaptOK(t, src, lw, files, AdaptOptions{})
	adaptOK(t, lw, twice, files, AdaptOptions{Mode: AdaptLayerwise})
	adaptOK(t, src, batch, files, AdaptOptions{Mode: AdaptBatch, BatchSize: 16})

	meta := loadMeta(t, src)
	pixPath, pixels := writePixels(t, meta, files)
	job := adaptJob{Src: src, Pixels: pixPath, Images: len(files), Size: meta.InputSize, BatchSize: DefaultMaxBatch}
	lwJob, bJob := job, job
	lwJob.Mode, lwJob.Dump, lwJob.Compare = AdaptLayerwise, []string{src, lw, twice}, []string{lw}
	bJob.Mode, bJob.BatchSize, bJob.Dump, bJob.Compare = AdaptBatch, 16, []string{batch}, []string{batch}
	refs := runAdaptRef(t, []adaptJob{lwJob, bJob})

	bns := 0
	for _, l := range m.Layers {
		if l.Type == "BatchNormalization" {
			bns++
		}
	}
	if len(refs[0].Layers) != bns || ad.Layers != bns {
		t.Fatalf("BatchNormalization layers: Python found %d, Adapt %d, the model has %d", len(refs[0].Layers), ad.Layers, bns)
	}
	for _, c := range []struct {
		ref       adaptRef
		dir, what string
	}{{refs[0], lw, "layerwise"}, {refs[1], batch, "batch"}} {
		got := c.ref.Dump[c.dir]
		for _, l := range c.ref.Layers {
			approx.Within(t, c.what+" "+l+" moving_mean", got.Stats[l][0], c.ref.Reference[l][0], approx.Rel, 1e-5)
			approx.Within(t, c.what+" "+l+" moving_variance", got.Stats[l][1], c.ref.Reference[l][1], approx.Rel, 1e-5)
		}
		if cmp := c.ref.Compare[c.dir]; len(cmp.Differ) > 0 || cmp.Compared != len(m.Variables)-2*bns {
			t.Errorf("%s: variables changed besides the moving statistics: %v (%d compared, want %d)", c.what, cmp.Differ, cmp.Compared, len(m.Variables)-2*bns)
		}
		d := approx.WithinRows(t, c.what+": Python's predictions with Go's statistics vs with its own", got.Predictions, c.ref.Predictions, approx.Abs, 1e-5)
		t.Logf("%s: %v", c.what, d)
		checkAdaptedInGo(t, c.dir, pixels, got.Predictions)
	}
	// The adaptation must have moved the statistics, or the comparisons above prove nothing.
	srcStats, lwStats := refs[0].Dump[src].Stats, refs[0].Dump[lw].Stats
	if d, _ := approx.Compare(lwStats["conv_pw_13_bn"][1], srcStats["conv_pw_13_bn"][1], approx.Rel); d.Max < 0.1 {
		t.Errorf("adaptation left conv_pw_13_bn's variance near the source's: %v", d)
	}
	for _, l := range refs[0].Layers {
		approx.Within(t, "adapted twice "+l+" moving_mean", refs[0].Dump[twice].Stats[l][0], lwStats[l][0], approx.Rel, 1e-6)
		approx.Within(t, "adapted twice "+l+" moving_variance", refs[0].Dump[twice].Stats[l][1], lwStats[l][1], approx.Rel, 1e-6)
	}
	checkAdaptationRecord(t, src, lw, files, bns)
}

// checkAdaptedInGo loads an adapted model with Load and compares its predictions with
// Python's on the same SavedModel, and runs its Grad-CAM signature.
func checkAdaptedInGo(t *testing.T, dir string, pixels [][]float32, python [][]float64) {
	t.Helper()
	model, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	preds, err := model.PredictPixels(context.Background(), pixels...)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]float32, len(preds))
	for i, p := range preds {
		got[i] = p.Probabilities
	}
	approx.WithinRows(t, dir+": Go vs Python predictions of the adapted SavedModel", got, python, approx.Abs, 1e-6)
	ex, err := model.ExplainPixels(context.Background(), ExplainOptions{}, pixels[:2]...)
	if err != nil || len(ex) != 2 || ex[0].Err != nil || len(ex[0].Heatmap) == 0 {
		t.Errorf("%s: serving_gradcam on the adapted model: %v", dir, err)
	}
}

// checkAdaptationRecord checks the metadata's record against values computed here, and
// that the signatures are src's.
func checkAdaptationRecord(t *testing.T, src, dst string, files []string, layers int) {
	t.Helper()
	got := loadMeta(t, dst).Adaptation
	if got == nil {
		t.Fatal("no adaptation record in the metadata")
	}
	var sums []string
	for _, f := range files {
		s := sha256.Sum256(readFiles(t, []string{f})[0])
		sums = append(sums, hex.EncodeToString(s[:])+"\n")
	}
	slices.Sort(sums)
	set := sha256.Sum256([]byte(strings.Join(sums, "")))
	want := Adaptation{Mode: AdaptLayerwise, Source: "sha256:" + dirHash(t, src), Images: len(files), ImageSet: "sha256:" + hex.EncodeToString(set[:]),
		BatchSize: DefaultMaxBatch, Layers: layers, Passes: layers, Date: "2026-12-07T12:00:00Z"}
	if *got != want {
		t.Errorf("adaptation record:\n got %+v\nwant %+v", *got, want)
	}
	a, err := SignatureDefs(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignatureDefs(dst)
	if err != nil {
		t.Fatal(err)
	}
	for name, sig := range a {
		if !proto.Equal(sig, b[name]) {
			t.Errorf("signature %s differs after adaptation", name)
		}
	}
	if len(a) != len(b) || len(a) < 3 {
		t.Errorf("signatures: %d before, %d after", len(a), len(b))
	}
}

func loadMeta(t *testing.T, dir string) Metadata {
	t.Helper()
	_, meta, err := readSavedModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

// TestAdaptBadInput: each mistake is its typed error, and no output is left.
func TestAdaptBadInput(t *testing.T) {
	tiny, _, _ := exportTiny(t, 32, 1, Metadata{})
	src, _ := exportBackbone(t, tfgraph.MobileNet, 2)
	files := xrays(t, 40)
	var bad []string // not decodable
	for _, f := range []string{"empty.jpeg", "notes.jpeg", "truncated.jpeg"} {
		bad = append(bad, filepath.Join(pyref.RepoRoot(), "testdata", "bad", f))
	}
	out := t.TempDir()
	for _, c := range []struct {
		name  string
		src   string
		files []string
		opts  AdaptOptions
		want  error
	}{
		{"no batch norm", tiny, files, AdaptOptions{}, ErrNoBatchNorm},
		{"too few", src, files[:MinAdaptImages-1], AdaptOptions{}, ErrTooFewImages},
		{"unreadable", src, append(slices.Clone(files), bad...), AdaptOptions{}, ErrUnreadableImages},
		{"missing file", src, append(slices.Clone(files), filepath.Join(out, "nowhere.jpeg")), AdaptOptions{}, os.ErrNotExist},
		{"bad mode", src, files, AdaptOptions{Mode: "running"}, tfgraph.ErrInvalidConfig},
		{"no model", filepath.Join(out, "none"), files, AdaptOptions{}, ErrNotFound},
		{"exists", src, files, AdaptOptions{}, ErrOutputExists},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := filepath.Join(out, strings.ReplaceAll(c.name, " ", "-"))
			if c.want == ErrOutputExists {
				dst = src
			}
			_, err := Adapt(context.Background(), c.src, dst, paths(c.files), c.opts)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
			var ue *UnreadableImagesError
			if errors.As(err, &ue) && (len(ue.Failed) != len(c.files)-len(files) || ue.Total != len(c.files)) {
				t.Errorf("unreadable: %d failed of %d, want %d of %d", len(ue.Failed), ue.Total, len(c.files)-len(files), len(c.files))
			}
			if c.want != ErrOutputExists {
				if _, err := os.Stat(dst); err == nil {
					t.Errorf("%s written despite the error", dst)
				}
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(src), ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestAdaptDICOM adapts on DICOM files (decoded in Go through the window asked for,
// which the record and the adapted model keep); one batch-mode pass keeps it cheap.
func TestAdaptDICOM(t *testing.T) {
	src, _ := exportBackbone(t, tfgraph.MobileNet, 2)
	dcm, err := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "dicom", "*.dcm"))
	if err != nil || len(dcm) == 0 {
		t.Fatalf("no DICOM test files: %v", err)
	}
	var files []string
	for len(files) < MinAdaptImages {
		files = append(files, dcm...)
	}
	w := preprocess.Window{Mode: preprocess.WindowFixed, Center: 128, Width: 200}
	dst := filepath.Join(t.TempDir(), "adapted")
	ad := adaptOK(t, src, dst, files, AdaptOptions{Mode: AdaptBatch, DICOMWindow: &w})
	meta := loadMeta(t, dst)
	if ad.Images != len(files) || ad.DICOMWindow == nil || *ad.DICOMWindow != w || meta.DICOMWindow == nil || *meta.DICOMWindow != w {
		t.Errorf("DICOM adaptation record %+v, model window %v; want %d images through %v", ad, meta.DICOMWindow, len(files), w)
	}
}
