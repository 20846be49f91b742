package adapt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
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
	Dump      []string `json:"dump"`    // their moving statistics
	Predict   []string `json:"predict"` // their statistics and predictions
	Compare   []string `json:"compare"`
}

type adaptRef struct {
	Layers      []string                `json:"layers"`
	Passes      int                     `json:"passes"`
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
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "adapt-test", Classes: names}); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// writePixels preprocesses files as Adapt does and writes them as raw float32 (native byte order) for Python.
func writePixels(t *testing.T, meta savedmodels.Metadata, files []string) (string, [][]float32) {
	t.Helper()
	pix := savedmodelstest.GoPixels(t, meta.Preprocessor(), savedmodelstest.ReadFiles(t, files))
	raw := savedmodelstest.RawFloat32(pix)
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

func adaptOK(t *testing.T, src, dst string, files []string, opts Options) *savedmodels.Adaptation {
	t.Helper()
	opts.Now = func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) }
	ad, err := Run(context.Background(), src, dst, paths(files), opts)
	if err != nil {
		t.Fatal(err)
	}
	return ad
}

// adaptCase is one model of TestAdaptMatchesPython and its adaptations.
type adaptCase struct {
	arch           string
	classes        int
	images         int  // the architectures larger than MobileNet use fewer than MinImages
	batch          int  // Batch's batch size; 0: no batch-mode run
	twice          bool // adapt the layerwise result again (idempotence)
	src, lw, again string
	batchDir       string
	model          *tfgraph.Model
	ad             *savedmodels.Adaptation
	files          []string
	pixels         [][]float32
}

// adaptCases: MobileNet (two classes, 32 images) in both modes and adapted twice;
// Xception (three classes) in both modes and InceptionV3 layerwise, where layers that do
// not feed each other share a pass, on 8 images at their smallest inputs (103 and 171
// px: tfgraph.MinInputSize, the head's 4x4 pooling) to keep them cheap.
func adaptCases() []*adaptCase {
	return []*adaptCase{
		{arch: tfgraph.MobileNet, classes: 2, images: MinImages, batch: 16, twice: true},
		{arch: tfgraph.Xception, classes: 3, images: 8, batch: 4},
		{arch: tfgraph.InceptionV3, classes: 2, images: 8},
	}
}

// TestAdaptMatchesPython adapts each case's model (BatchNormalization statistics away
// from the images' own) layer by layer and in batch mode, and checks against Python
// TensorFlow doing the same computation on the same SavedModel and pixels, all cases in
// one Python process: the statistics (relative 1e-5), every other variable bit for bit,
// idempotence (1e-6), the adapted SavedModel's predictions in Go and Python, its
// signatures and metadata.
func TestAdaptMatchesPython(t *testing.T) {
	cases := adaptCases()
	old := minImages
	t.Cleanup(func() { minImages = old })
	var jobs []adaptJob
	for _, c := range cases {
		minImages = min(minImages, c.images)
		jobs = append(jobs, c.adapt(t)...)
	}
	refs := runAdaptRef(t, jobs)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.arch, c.classes), func(t *testing.T) {
			c.check(t, refs[0], c.lw, "layerwise")
			if c.batch > 0 {
				c.check(t, refs[1], c.batchDir, "batch")
			}
			c.checkMoved(t, refs[0])
			checkAdaptationRecord(t, c.src, c.lw, c.files, len(refs[0].Layers), refs[0].Passes)
		})
		refs = refs[1:]
		if c.batch > 0 {
			refs = refs[1:]
		}
	}
}

// adapt exports the case's model, adapts it and returns its reference jobs.
func (c *adaptCase) adapt(t *testing.T) []adaptJob {
	t.Helper()
	c.src, c.model = exportBackbone(t, c.arch, c.classes)
	c.files = savedmodelstest.Xrays(t, c.images)
	out := t.TempDir()
	c.lw = filepath.Join(out, "layerwise")
	c.ad = adaptOK(t, c.src, c.lw, c.files, Options{})
	meta := loadMeta(t, c.src)
	var pixPath string
	pixPath, c.pixels = writePixels(t, meta, c.files)
	job := adaptJob{Src: c.src, Pixels: pixPath, Images: len(c.files), Size: meta.InputSize, BatchSize: savedmodels.DefaultMaxBatch}
	lw := job
	lw.Mode, lw.Dump, lw.Predict, lw.Compare = Layerwise, []string{c.src}, []string{c.lw}, []string{c.lw}
	if c.twice {
		c.again = filepath.Join(out, "twice")
		adaptOK(t, c.lw, c.again, c.files, Options{Mode: Layerwise})
		lw.Dump = append(lw.Dump, c.again)
	}
	jobs := []adaptJob{lw}
	if c.batch > 0 {
		c.batchDir = filepath.Join(out, "batch")
		adaptOK(t, c.src, c.batchDir, c.files, Options{Mode: Batch, BatchSize: c.batch})
		b := job
		b.Mode, b.BatchSize, b.Predict, b.Compare = Batch, c.batch, []string{c.batchDir}, []string{c.batchDir}
		jobs = append(jobs, b)
	}
	return jobs
}

// check compares the model adapted into dir with the reference.
func (c *adaptCase) check(t *testing.T, ref adaptRef, dir, what string) {
	t.Helper()
	bns := 0
	for _, l := range c.model.Layers {
		if l.Type == "BatchNormalization" {
			bns++
		}
	}
	if len(ref.Layers) != bns || c.ad.Layers != bns {
		t.Fatalf("BatchNormalization layers: Python found %d, Adapt %d, the model has %d", len(ref.Layers), c.ad.Layers, bns)
	}
	got := ref.Dump[dir]
	for _, l := range ref.Layers {
		approx.Within(t, what+" "+l+" moving_mean", got.Stats[l][0], ref.Reference[l][0], approx.Rel, 1e-5)
		approx.Within(t, what+" "+l+" moving_variance", got.Stats[l][1], ref.Reference[l][1], approx.Rel, 1e-5)
	}
	if cmp := ref.Compare[dir]; len(cmp.Differ) > 0 || cmp.Compared != len(c.model.Variables)-2*bns {
		t.Errorf("%s: variables changed besides the moving statistics: %v (%d compared, want %d)", what, cmp.Differ, cmp.Compared, len(c.model.Variables)-2*bns)
	}
	d := approx.WithinRows(t, what+": Python's predictions with Go's statistics vs with its own", got.Predictions, ref.Predictions, approx.Abs, 1e-5)
	t.Logf("%s: %v", what, d)
	checkAdaptedInGo(t, dir, c.pixels, got.Predictions)
}

// checkMoved checks that the adaptation moved the statistics (or the comparisons prove
// nothing) and, when adapted twice, that the second changed nothing.
func (c *adaptCase) checkMoved(t *testing.T, ref adaptRef) {
	t.Helper()
	src, lw := ref.Dump[c.src].Stats, ref.Dump[c.lw].Stats
	last := ref.Layers[len(ref.Layers)-1]
	if d, _ := approx.Compare(lw[last][1], src[last][1], approx.Rel); d.Max < 0.1 {
		t.Errorf("adaptation left %s's variance near the source's: %v", last, d)
	}
	if !c.twice {
		return
	}
	for _, l := range ref.Layers {
		approx.Within(t, "adapted twice "+l+" moving_mean", ref.Dump[c.again].Stats[l][0], lw[l][0], approx.Rel, 1e-6)
		approx.Within(t, "adapted twice "+l+" moving_variance", ref.Dump[c.again].Stats[l][1], lw[l][1], approx.Rel, 1e-6)
	}
}

// checkAdaptedInGo loads an adapted model with savedmodels.Load and compares its predictions with
// Python's on the same SavedModel, and runs its Grad-CAM signature.
func checkAdaptedInGo(t *testing.T, dir string, pixels [][]float32, python [][]float64) {
	t.Helper()
	model, err := savedmodels.Load(dir, savedmodels.Options{})
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
	ex, err := model.ExplainPixels(context.Background(), savedmodels.ExplainOptions{}, pixels[:2]...)
	if err != nil || len(ex) != 2 || ex[0].Err != nil || len(ex[0].Heatmap) == 0 {
		t.Errorf("%s: serving_gradcam on the adapted model: %v", dir, err)
	}
}

// checkAdaptationRecord checks the metadata's record against values computed here, and
// that the signatures are src's.
func checkAdaptationRecord(t *testing.T, src, dst string, files []string, layers, passes int) {
	t.Helper()
	got := loadMeta(t, dst).Adaptation
	if got == nil {
		t.Fatal("no adaptation record in the metadata")
	}
	var sums []string
	for _, f := range files {
		s := sha256.Sum256(savedmodelstest.ReadFiles(t, []string{f})[0])
		sums = append(sums, hex.EncodeToString(s[:])+"\n")
	}
	slices.Sort(sums)
	set := sha256.Sum256([]byte(strings.Join(sums, "")))
	want := savedmodels.Adaptation{Mode: Layerwise, Source: "sha256:" + savedmodelstest.DirHash(t, src), Images: len(files), ImageSet: "sha256:" + hex.EncodeToString(set[:]),
		BatchSize: savedmodels.DefaultMaxBatch, Layers: layers, Passes: passes, Date: "2026-12-07T12:00:00Z"}
	if *got != want {
		t.Errorf("adaptation record:\n got %+v\nwant %+v", *got, want)
	}
	a, err := savedmodels.SignatureDefs(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := savedmodels.SignatureDefs(dst)
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

func loadMeta(t *testing.T, dir string) savedmodels.Metadata {
	t.Helper()
	_, meta, err := savedmodels.ReadMetaGraph(dir)
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

// TestAdaptBadInput: each mistake is its typed error, and no output is left.
func TestAdaptBadInput(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 1) // no BatchNormalization layer
	tiny := filepath.Join(t.TempDir(), "tiny")
	if err := export.SavedModel(tiny, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	src, _ := exportBackbone(t, tfgraph.MobileNet, 2)
	files := savedmodelstest.Xrays(t, 40)
	var bad []string // not decodable
	for _, f := range []string{"empty.jpeg", "notes.jpeg", "truncated.jpeg"} {
		bad = append(bad, filepath.Join(pyref.RepoRoot(), "testdata", "bad", f))
	}
	out := t.TempDir()
	for _, c := range []struct {
		name  string
		src   string
		files []string
		opts  Options
		want  error
	}{
		{"no batch norm", tiny, files, Options{}, ErrNoBatchNorm},
		{"too few", src, files[:MinImages-1], Options{}, ErrTooFewImages},
		{"unreadable", src, append(slices.Clone(files), bad...), Options{}, ErrUnreadableImages},
		{"missing file", src, append(slices.Clone(files), filepath.Join(out, "nowhere.jpeg")), Options{}, os.ErrNotExist},
		{"bad mode", src, files, Options{Mode: "running"}, tfgraph.ErrInvalidConfig},
		{"no model", filepath.Join(out, "none"), files, Options{}, savedmodels.ErrNotFound},
		{"exists", src, files, Options{}, ErrOutputExists},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := filepath.Join(out, strings.ReplaceAll(c.name, " ", "-"))
			if c.want == ErrOutputExists {
				dst = src
			}
			_, err := Run(context.Background(), c.src, dst, paths(c.files), c.opts)
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
	for len(files) < MinImages {
		files = append(files, dcm...)
	}
	w := dicom.Window{Mode: dicom.WindowFixed, Center: 128, Width: 200}
	dst := filepath.Join(t.TempDir(), "adapted")
	ad := adaptOK(t, src, dst, files, Options{Mode: Batch, DICOMWindow: &w})
	meta := loadMeta(t, dst)
	if ad.Images != len(files) || ad.DICOMWindow == nil || *ad.DICOMWindow != w || meta.DICOMWindow == nil || *meta.DICOMWindow != w {
		t.Errorf("DICOM adaptation record %+v, model window %v; want %d images through %v", ad, meta.DICOMWindow, len(files), w)
	}
}
