package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/tfgraph"
)

// Options configure Files.
type Options struct {
	OutDir string  // where the figures go ("" writes none)
	Alpha  float64 // heatmap opacity in [0, 1] (0 is valid: DefaultAlpha is the usual)
	Class  string  // class to explain by name; "" for the predicted one
	Layer  string  // Grad-CAM's layer; "" for serving_gradcam's (the last conv feature map)
	Batch  int     // images per model call (default savedmodels.DefaultMaxBatch)
	Method string  // MethodMargin (default), MethodGradCAM or MethodOcclusion
	Patch  int     // occlusion patch side (default 32)
	Stride int     // occlusion stride (default 16)
}

// Methods of Files: the Grad-CAM family (savedmodels.ExplainOptions.Method) and occlusion.
const (
	MethodMargin    = tfgraph.CAMMargin  // Grad-CAM of the logit margin over the runner-up: the default
	MethodGradCAM   = tfgraph.CAMGradCAM // plain Grad-CAM of the class's logit
	MethodOcclusion = "occlusion"
)

// Methods lists Files' methods, the default first.
var Methods = append(slices.Clone(tfgraph.CAMMethods), MethodOcclusion)

// gradientMethod reports whether method is computed from the model's gradients (and so
// takes a layer).
func gradientMethod(method string) bool { return slices.Contains(tfgraph.CAMMethods, method) }

// Result is one image's line: its explanation, where its figure went, and where the
// heatmap peaks in the model's input and in the original image.
type Result struct {
	File    string
	Figure  string // path of the overlay PNG ("" when none was written)
	Classes []string
	savedmodels.Explanation
	Width, Height int // the original image's size
	Method        string
	MaxDrop       float32 // occlusion: the largest probability drop (the heatmap's 1)

	image image.Image // decoded, for the figure
}

// MarshalJSON writes {"file", "class", "class_id", "probability" (of the predicted class),
// "explained", "explained_probability", "peak": {"x", "y", "value"} (in the model's
// input pixels), "peak_original": {"x", "y"} (in the file's pixels), "method",
// "max_drop" (occlusion), "empty" (why the map is zero everywhere, when it is), "overlay"},
// or {"file", "error"}.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.Err != nil {
		return json.Marshal(struct {
			File  string `json:"file"`
			Error string `json:"error"`
		}{r.File, strings.TrimPrefix(r.Err.Error(), r.File+": ")})
	}
	type point struct {
		X     int      `json:"x"`
		Y     int      `json:"y"`
		Value *float32 `json:"value,omitempty"`
	}
	x, y, v := r.Peak()
	var maxDrop *float32
	if r.Method == MethodOcclusion {
		maxDrop = &r.MaxDrop
	}
	sx := func(x, w int) int { return min(w-1, int((float64(x)+0.5)*float64(w)/float64(r.Size))) }
	return json.Marshal(struct {
		File                 string   `json:"file"`
		Class                string   `json:"class"`
		ClassID              int      `json:"class_id"`
		Probability          float32  `json:"probability"`
		Explained            string   `json:"explained"`
		ExplainedProbability float32  `json:"explained_probability"`
		Peak                 point    `json:"peak"`
		PeakOriginal         point    `json:"peak_original"`
		Method               string   `json:"method"`
		MaxDrop              *float32 `json:"max_drop,omitempty"`
		Empty                string   `json:"empty,omitempty"`
		Overlay              string   `json:"overlay,omitempty"`
	}{r.File, r.Classes[r.Class], r.Class, prob(r.Explanation, r.Class), r.Classes[r.Explained], prob(r.Explanation, r.Explained),
		point{x, y, &v}, point{X: sx(x, r.Width), Y: sx(y, r.Height)}, r.Method, maxDrop, r.Empty, r.Figure})
}

// Files explains image files a batch at a time, writes each one's figure to
// opts.OutDir/<name>.gradcam.png and hands every batch's results, in order, to emit. A
// file that cannot be read or decoded, or a figure that cannot be written, is that
// file's error; the error returned is for the run as a whole.
func Files(ctx context.Context, model *savedmodels.Model, paths []string, opts Options, emit func([]Result) error) error {
	if opts.Batch <= 0 {
		opts.Batch = savedmodels.DefaultMaxBatch
	}
	if opts.Method == "" {
		opts.Method = MethodMargin
	}
	if !slices.Contains(Methods, opts.Method) {
		return fmt.Errorf("explain: unknown method %q: use %s", opts.Method, strings.Join(Methods, ", "))
	}
	if opts.Layer != "" && !gradientMethod(opts.Method) {
		return fmt.Errorf("explain: a layer (%s) applies to %s only", opts.Layer, strings.Join(tfgraph.CAMMethods, " and "))
	}
	if !(opts.Alpha >= 0 && opts.Alpha <= 1) {
		return fmt.Errorf("explain: opacity %v: give a value in [0, 1]", opts.Alpha)
	}
	if opts.OutDir != "" {
		if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
			return fmt.Errorf("explain: %w", err)
		}
	}
	names := figureNames(paths, opts.Method)
	classes := model.Metadata().Classes
	for start := 0; start < len(paths); start += opts.Batch {
		batch := paths[start:min(start+opts.Batch, len(paths))]
		res, err := explainBatch(ctx, model, batch, opts, classes)
		if err != nil {
			return err
		}
		for i := range res {
			if res[i].Err == nil && opts.OutDir != "" {
				res[i].Figure = filepath.Join(opts.OutDir, names[start+i])
				if err := writeFigure(res[i], opts.Alpha); err != nil {
					res[i].Err, res[i].Figure = err, ""
				}
			}
		}
		if err := emit(res); err != nil {
			return err
		}
	}
	return nil
}

// explainBatch decodes a batch of files (keeping the images for their figures) and
// explains the ones that decoded.
func explainBatch(ctx context.Context, model *savedmodels.Model, paths []string, opts Options, classes []string) ([]Result, error) {
	res := make([]Result, len(paths))
	var good []image.Image
	var at []int
	for i, p := range paths {
		res[i].File, res[i].Classes, res[i].Method = p, classes, opts.Method
		img, err := decodeFile(p, model.Preprocessor())
		if err != nil {
			res[i].Err = err
			continue
		}
		b := img.Bounds()
		res[i].Width, res[i].Height = b.Dx(), b.Dy()
		good, at = append(good, img), append(at, i)
	}
	if len(good) == 0 {
		return res, nil
	}
	if opts.Method == MethodOcclusion {
		for k, i := range at {
			om, err := Occlusion(ctx, model, good[k], OcclusionOptions{Patch: opts.Patch, Stride: opts.Stride, Class: opts.Class, Batch: opts.Batch})
			if err != nil {
				return nil, err
			}
			res[i].Explanation, res[i].image, res[i].MaxDrop = om.Explanation, good[k], slices.Max(om.Drop)
			res[i].Method = MethodOcclusion
			if res[i].MaxDrop <= 0 {
				res[i].Empty = fmt.Sprintf("no patch of %d px lowers p(%s): occlusion finds no evidence at this scale", opts.Patch, classes[om.Explained])
			}
		}
		return res, nil
	}
	ex, err := model.ExplainWith(ctx, savedmodels.ExplainOptions{Class: opts.Class, Layer: opts.Layer, Method: opts.Method}, good...)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		res[i].Explanation, res[i].image = ex[k], good[k]
		res[i].Method = ex[k].Method // an older model may answer with its own
	}
	return res, nil
}

// decodeFile decodes an image file as the model reads it (a DICOM file through the
// model's window).
func decodeFile(path string, pre preprocess.Preprocessor) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := pre.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func writeFigure(r Result, alpha float64) error {
	method := map[string]string{MethodMargin: "Grad-CAM (margin)", MethodGradCAM: "Grad-CAM", MethodOcclusion: "Occlusion"}[r.Method]
	if r.Empty != "" {
		method += ", empty map"
	}
	png, err := FigurePNG(r.image, r.Explanation, Title(method, r.Explanation, r.Classes), alpha)
	if err != nil {
		return fmt.Errorf("%s: %w", r.File, err)
	}
	return atomicfile.WriteFile(r.Figure, png)
}

// figureNames names each file's figure <base>.<method>.png, numbering repeated bases.
func figureNames(paths []string, method string) []string {
	seen := map[string]int{}
	names := make([]string, len(paths))
	for i, p := range paths {
		base := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		n := seen[base]
		seen[base]++
		if n > 0 {
			base = fmt.Sprintf("%s-%d", base, n)
		}
		names[i] = base + "." + method + ".png"
	}
	return names
}
