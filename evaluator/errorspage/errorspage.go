package errorspage

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels"
)

// File is the gallery of misclassified images beside report.md.
const File = "errors.html"

// MaxCards is how many false positives, and how many false negatives, the gallery
// shows at most: the most confident first.
const MaxCards = 24

// Input is what the gallery needs: the model and images predict.Split ran, its records,
// and the decision the report used.
type Input struct {
	predict.Input
	Records     []evaluator.Record
	Threshold   *decision.Threshold // the model's operating point; used when ByThreshold
	ByThreshold bool
}

// errorCard is one misclassified image in the page.
type errorCard struct {
	Path        string
	True, Pred  string
	Probability float64 // of the predicted (wrong) class
	Overlay     template.URL
	Method      string // the explanation method (savedmodels.Explanation.Method)
	Empty       string // why the map is zero everywhere; "" when it is not
}

// Write writes dir/errors.html: the misclassified images (up to MaxCards
// false positives and false negatives, most confident first), each with the Grad-CAM
// overlay of the class it was wrongly given, its true and predicted label and that
// probability. The page is self-contained (images inline). It fails with
// savedmodels.ErrNoGradCAM for a model exported without heatmaps.
func Write(ctx context.Context, dir string, in Input) error {
	imgs, err := in.Images()
	if err != nil {
		return err
	}
	// the model as predict.Split ran it: DICOM files read through the evaluation's window
	model, err := in.Load()
	if err != nil {
		return err
	}
	defer model.Close()
	decide := func(r evaluator.Record) int { return r.Predicted() }
	if in.ByThreshold && in.Threshold != nil {
		decide = func(r evaluator.Record) int { return in.Threshold.Class(r.Probs) }
	}
	var fp, fn []evaluator.Record
	for _, r := range in.Records {
		switch d := decide(r); {
		case r.Label == labels.Normal && d == labels.Pneumonia:
			fp = append(fp, r)
		case r.Label == labels.Pneumonia && d == labels.Normal:
			fn = append(fn, r)
		}
	}
	page := struct {
		Title       string
		FP, FN      []errorCard
		NFP, NFN, N int
		Colorbar    template.URL
		Method      string
	}{Title: "Misclassified images: " + in.SavedModel, NFP: len(fp), NFN: len(fn), N: len(in.Records)}
	classes := model.Metadata().Classes
	if page.FP, err = errorCards(ctx, model, imgs.Root, mostConfident(fp, labels.Pneumonia), classes, labels.Pneumonia); err != nil {
		return err
	}
	if page.FN, err = errorCards(ctx, model, imgs.Root, mostConfident(fn, labels.Normal), classes, labels.Normal); err != nil {
		return err
	}
	page.Method = "Grad-CAM, method " + explain.MethodMargin
	for _, c := range append(page.FP, page.FN...) {
		page.Method = "Grad-CAM, method " + c.Method
	}
	if page.Colorbar, err = colorbarURL(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := errorsTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("errors page: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("errors page: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, File), buf.Bytes())
}

// mostConfident sorts records by their probability of class, highest first, and keeps
// MaxCards.
func mostConfident(rs []evaluator.Record, class int) []evaluator.Record {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Probs[class] > rs[j].Probs[class] })
	return rs[:min(len(rs), MaxCards)]
}

// errorCards explains rs for class (the wrong one they were given) and renders each
// overlay as an inline PNG, over each image decoded as the model decodes it (its DICOM
// window), so the page shows the pixels that were evaluated.
func errorCards(ctx context.Context, model *savedmodels.Model, root string, rs []evaluator.Record, classes []string, class int) ([]errorCard, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	images := make([]image.Image, len(rs))
	for i, r := range rs {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r.Path)))
		if err != nil {
			return nil, fmt.Errorf("errors page: %w", err)
		}
		if images[i], err = model.Preprocessor().Decode(b); err != nil {
			return nil, fmt.Errorf("errors page: %s: %w", r.Path, err)
		}
	}
	ex, err := model.ExplainWith(ctx, savedmodels.ExplainOptions{Class: classes[class]}, images...)
	if err != nil {
		return nil, fmt.Errorf("errors page: %w", err)
	}
	cards := make([]errorCard, len(rs))
	for i, r := range rs {
		if ex[i].Err != nil {
			return nil, fmt.Errorf("errors page: %s: %w", r.Path, ex[i].Err)
		}
		ov, err := explain.Overlay(images[i], ex[i].Heatmap, ex[i].Size, explain.DefaultAlpha)
		if err != nil {
			return nil, fmt.Errorf("errors page: %s: %w", r.Path, err)
		}
		url, err := pngURL(ov)
		if err != nil {
			return nil, err
		}
		cards[i] = errorCard{Path: r.Path, True: classes[r.Label], Pred: classes[class], Probability: r.Probs[class], Overlay: url, Method: ex[i].Method, Empty: ex[i].Empty}
	}
	return cards, nil
}

// pngURL is img as a data: URL, so the page needs no other file.
func pngURL(img image.Image) (template.URL, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("errors page: %w", err)
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// colorbarURL is the heatmap's colormap as a 256 x 12 horizontal strip, 0 on the left.
func colorbarURL() (template.URL, error) {
	cm := explain.Colormap()
	img := image.NewRGBA(image.Rect(0, 0, 256, 12))
	for x := 0; x < 256; x++ {
		c, err := cm.At(float64(x) / 255)
		if err != nil {
			return "", err
		}
		for y := 0; y < 12; y++ {
			img.Set(x, y, color.RGBAModel.Convert(c))
		}
	}
	return pngURL(img)
}

var errorsTemplate = template.Must(template.New("errors").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.card { margin: 0; width: 256px; background: #fff; border: 1px solid #ddd; padding: 6px; }
.card img { width: 256px; height: 256px; image-rendering: auto; display: block; }
.card figcaption { font-size: 12px; margin-top: 4px; word-break: break-all; }
.legend img { width: 256px; height: 12px; vertical-align: middle; }
</style></head><body>
<h1>Misclassified images</h1>
<p>{{.NFP}} false positives and {{.NFN}} false negatives among {{.N}} images; up to 24 of each,
most confident first. Each overlay is the heatmap of the class the model gave ({{.Method}}), over the
X-ray as the model saw it; a card says when its map is empty, and why.</p>
<p class="legend">heatmap 0 <img alt="colormap" src="{{.Colorbar}}"> 1</p>
<h2 id="fp">False positives (true normal, predicted pneumonia)</h2>
<div class="gallery">{{range .FP}}
<figure class="card" data-kind="fp"><img alt="{{.Path}}" src="{{.Overlay}}">
<figcaption><b>{{.Path}}</b><br>true {{.True}}, predicted {{.Pred}} {{printf "%.3f" .Probability}}{{if .Empty}}<br><i class="empty">empty map: {{.Empty}}</i>{{end}}</figcaption></figure>{{else}}<p>None.</p>{{end}}
</div>
<h2 id="fn">False negatives (true pneumonia, predicted normal)</h2>
<div class="gallery">{{range .FN}}
<figure class="card" data-kind="fn"><img alt="{{.Path}}" src="{{.Overlay}}">
<figcaption><b>{{.Path}}</b><br>true {{.True}}, predicted {{.Pred}} {{printf "%.3f" .Probability}}{{if .Empty}}<br><i class="empty">empty map: {{.Empty}}</i>{{end}}</figcaption></figure>{{else}}<p>None.</p>{{end}}
</div>
</body></html>
`))
