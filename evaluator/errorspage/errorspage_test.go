package errorspage

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator/predict"
	"github.com/xraylab/xray/internal/browsertest"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels"
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
	if err := savedmodels.Export(in.SavedModel, sess, m, savedmodels.Metadata{}); err != nil {
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
