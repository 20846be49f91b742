package serve

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/xraylab/xray/internal/browsertest"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels"
)

// TestPageInChromium: headless Chromium opens the page, uploads an X-ray through the file
// input and shows the live graph's class, the probability bars and the Grad-CAM overlay;
// the screenshot is kept ($XRAY_TEST_ARTIFACTS/serve-page.png when set).
func TestPageInChromium(t *testing.T) {
	browser := browsertest.Chromium(t)
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	file, err := filepath.Abs(f.paths[0])
	if err != nil {
		t.Fatal(err)
	}
	wantClass := labels.Default().Name(argmax(f.versions[1].want[0]))

	bctx := browsertest.Context(t, browser, 1000, 700)
	err = chromedp.Do(bctx,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(`#drop`),
	)
	if err == nil {
		_, err = chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("model").textContent.includes("version 1")`))
	}
	if err == nil {
		err = chromedp.Do(bctx, chromedp.SetUploadFiles(`#file`, []string{file}), chromedp.WaitVisible(`.result .class[data-class]`))
	}
	if err == nil {
		_, err = chromedp.Run(bctx, chromedp.Poll[bool](`[...document.querySelectorAll(".result img")].every(i => i.complete && i.naturalWidth > 0)`))
	}
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("chromium: %s: %v", js, err)
		}
		return v
	}
	model := eval(`document.getElementById("model").textContent`)
	class := eval(`document.querySelector(".result .class").dataset.class`)
	shown := eval(`document.querySelector(".result .class").textContent`)
	bars := eval(`String(document.querySelectorAll(".result .bar").length)`)
	overlays := eval(`String(document.querySelectorAll(".result img[alt='Grad-CAM overlay']").length)`)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("chromium screenshot: %v", err)
	}
	if class != wantClass || !strings.HasPrefix(shown, wantClass+" (") {
		t.Errorf("page shows class %q (%q), the live graph says %q", class, shown, wantClass)
	}
	if bars != "2" || overlays != "1" {
		t.Errorf("page shows %s probability bars and %s overlays, want 2 and 1", bars, overlays)
	}
	if !strings.Contains(model, "tiny") || !strings.Contains(model, "run v1") {
		t.Errorf("page's model line %q lacks the architecture or run id", model)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), "serve-page.png")
	if dir := os.Getenv("XRAY_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(dir, "serve-page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("page: %q, %s; screenshot %s", shown, model, out)
	checkDICOMUpload(t, bctx, f.versions[1].dir)
}

// checkDICOMUpload uploads a DICOM file: the page shows the class the Go API predicts for
// it and the overlay, and drops the preview the browser cannot decode.
func checkDICOMUpload(t *testing.T, bctx context.Context, model string) {
	t.Helper()
	dcm, err := filepath.Abs("../testdata/dicom/mono2_8bit.dcm")
	if err != nil {
		t.Fatal(err)
	}
	m, err := savedmodels.Load(model, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pred, err := m.PredictFile(context.Background(), dcm)
	m.Close()
	if err != nil || pred[0].Err != nil {
		t.Fatalf("Go API on %s: %v %v", dcm, err, pred[0].Err)
	}
	const first = `#results > .result:first-child`
	err = chromedp.Do(bctx, chromedp.SetUploadFiles(`#file`, []string{dcm}),
		chromedp.WaitVisible(first+` .class[data-class]`), chromedp.WaitVisible(first+` img[alt='Grad-CAM overlay']`))
	if err == nil {
		_, err = chromedp.Run(bctx, chromedp.Poll[bool](`[...document.querySelectorAll(".result img")].every(i => i.complete && i.naturalWidth > 0)`))
	}
	if err != nil {
		t.Fatalf("chromium, DICOM upload: %v", err)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.querySelector("`+first+` .name").textContent, document.querySelector("`+first+` .class").dataset.class, String(document.querySelectorAll("`+first+` img").length)]`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	want := []string{filepath.Base(dcm), labels.Default().Name(pred[0].Decision), "1"}
	if !slices.Equal(got, want) {
		t.Errorf("DICOM row shows name, class, images %q; want %q (the Go API's class, the overlay alone)", got, want)
	}
}
