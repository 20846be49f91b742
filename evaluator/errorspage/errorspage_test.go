package errorspage

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/internal/browsertest"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// TestErrorsPageInChromium evaluates a tiny random model (many errors) on the sample's
// test folder, writes errors.html, opens it in headless Chromium and checks that the page
// has one card per misclassified image (capped at MaxCards per kind, counted here
// from the records), that every overlay image decoded, and that a screenshot shows a
// gallery (not a blank page).
func TestErrorsPageInChromium(t *testing.T) {
	browser := browsertest.Chromium(t)
	in := predict.Input{Data: filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "test"), Split: predict.AllImages}
	ctx := context.Background()
	m, sess := savedmodelstest.TinyModel(t, 32, 21)
	in.SavedModel = filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(in.SavedModel, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := predict.Split(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// An untrained model leans to one class; an operating threshold at the median
	// p(pneumonia) gives errors of both kinds (and exercises the thresholded decision).
	ps := make([]float64, len(recs))
	for i, r := range recs {
		ps[i] = r.Probs[labels.Pneumonia]
	}
	slices.Sort(ps)
	th := &decision.Threshold{Rule: decision.Youden, Value: ps[len(ps)/2]}
	var fp, fn int
	for _, r := range recs {
		p := r.Probs[labels.Pneumonia] >= th.Value
		fp += b2i(r.Label == labels.Normal && p)
		fn += b2i(r.Label == labels.Pneumonia && !p)
	}
	if fp == 0 || fn == 0 {
		t.Fatalf("%d false positives, %d false negatives: need both", fp, fn)
	}
	dir := t.TempDir()
	if err := Write(ctx, dir, Input{Input: in, Records: recs, Threshold: th, ByThreshold: true}); err != nil {
		t.Fatal(err)
	}

	bctx := browsertest.Context(t, browser, 1280, 900)
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+filepath.Join(dir, File)), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	count := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("chromium: %s: %v", js, err)
		}
		return n
	}
	nfp := count(`document.querySelectorAll('figure.card[data-kind=fp]').length`)
	nfn := count(`document.querySelectorAll('figure.card[data-kind=fn]').length`)
	broken := count(`[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length`)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("chromium screenshot: %v", err)
	}
	if nfp != min(fp, MaxCards) || nfn != min(fn, MaxCards) {
		t.Errorf("page shows %d FP and %d FN cards; the records have %d and %d (cap %d)", nfp, nfn, fp, fn, MaxCards)
	}
	if broken != 0 {
		t.Errorf("%d images did not load", broken)
	}
	checkScreenshot(t, shot)
	t.Logf("%d FP, %d FN cards; screenshot %d bytes", nfp, nfn, len(shot))
}

// TestErrorsPageDICOMWindow: a DICOM split evaluated with a window (here minmax, which
// differs from the file's own) gets an errors page drawn with that window: the card's
// overlay is the X-ray decoded with it under the heatmap of the model reading the file
// with it, and the probability shown is the evaluated one.
func TestErrorsPageDICOMWindow(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile(filepath.Join(pyref.RepoRoot(), "testdata", "dicom", "mono1_window.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	file := filepath.Join(data, "NORMAL", "a.dcm")
	for _, f := range []string{file, filepath.Join(data, "PNEUMONIA", "b.jpeg")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile(filepath.Join(pyref.RepoRoot(), "testdata", "dicom", "source.jpeg"))
	if err == nil {
		err = os.WriteFile(filepath.Join(data, "PNEUMONIA", "b.jpeg"), jpeg, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	window := dicom.Window{Mode: dicom.WindowMinMax}
	img, err := preprocess.Preprocessor{Window: window}.Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	if own, err := (preprocess.Preprocessor{}).Decode(src); err != nil || samePixels(own, img) {
		t.Fatalf("the file's own window and minmax give the same pixels (%v): the test would prove nothing", err)
	}
	m, sess := savedmodelstest.TinyModel(t, 32, 21)
	in := predict.Input{SavedModel: filepath.Join(t.TempDir(), "savedmodel"), Data: data, Split: predict.AllImages, DICOMWindow: &window}
	if err := export.SavedModel(in.SavedModel, sess, m, savedmodels.Metadata{}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := predict.Split(ctx, in)
	if err != nil || len(recs) != 2 || recs[0].Path != "NORMAL/a.dcm" {
		t.Fatalf("predict.Split: %v, %v", recs, err)
	}
	// threshold 0: the normal image is a false positive, explained as pneumonia (the
	// pneumonia one, a JPEG, is right)
	dir := t.TempDir()
	th := &decision.Threshold{Rule: decision.Youden, Value: 0}
	if err := Write(ctx, dir, Input{Input: in, Records: recs, Threshold: th, ByThreshold: true}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	card := regexp.MustCompile(`alt="NORMAL/a.dcm" src="data:image/png;base64,([^"]+)">\s*<figcaption>.*predicted pneumonia ([0-9.]+)`).FindSubmatch(page)
	if card == nil {
		t.Fatalf("no card for NORMAL/a.dcm:\n%s", page)
	}
	if want := fmt.Sprintf("%.3f", recs[0].Probs[labels.Pneumonia]); string(card[2]) != want {
		t.Errorf("card shows p(pneumonia) %s, evaluated %s", card[2], want)
	}
	b, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(card[1])))
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(in.SavedModel, savedmodels.Options{DICOMWindow: &window})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	ex, err := model.ExplainFile(ctx, savedmodels.ExplainOptions{Class: "pneumonia"}, file)
	if err != nil || ex[0].Err != nil {
		t.Fatalf("explain: %v %v", err, ex[0].Err)
	}
	want, err := explain.Overlay(img, ex[0].Heatmap, ex[0].Size, explain.DefaultAlpha)
	if err != nil {
		t.Fatal(err)
	}
	if !samePixels(got, want) {
		t.Error("the card's overlay is not the minmax-windowed X-ray under the heatmap of the model reading it with that window")
	}
}

// samePixels: a and b have the same bounds and colours.
func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBA64Model.Convert(a.At(x, y)) != color.RGBA64Model.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

// checkScreenshot: the page rendered something besides background (the overlays are
// dark and colourful, the background near white).
func checkScreenshot(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			if r, g, bl, _ := img.At(x, y).RGBA(); (r+g+bl)/3 < 0x8000 {
				dark++
			}
		}
	}
	if total := (b.Dx() / 4) * (b.Dy() / 4); dark < total/10 {
		t.Errorf("screenshot %dx%d is mostly blank: %d of %d sampled pixels dark", b.Dx(), b.Dy(), dark, total)
	}
	if out := os.Getenv("XRAY_SCREENSHOT"); out != "" {
		os.WriteFile(out, shot, 0o644)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
