package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/browsertest"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
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
	if class != wantClass || !strings.HasPrefix(shown, wantClass+" (") {
		t.Errorf("page shows class %q (%q), the live graph says %q", class, shown, wantClass)
	}
	if bars != "2" || overlays != "1" {
		t.Errorf("page shows %s probability bars and %s overlays, want 2 and 1", bars, overlays)
	}
	if !strings.Contains(model, "tiny") || !strings.Contains(model, "run v1") {
		t.Errorf("page's model line %q lacks the architecture or run id", model)
	}
	out := keepScreenshot(t, bctx, "serve-page.png")
	t.Logf("page: %q, %s; screenshot %s", shown, model, out)
	checkDICOMUpload(t, bctx, hs.URL, f.versions[1].dir)
}

// keepScreenshot saves the page as a PNG: $XRAY_TEST_ARTIFACTS/name when set, else in a
// temporary directory; it returns the path.
func keepScreenshot(t *testing.T, bctx context.Context, name string) string {
	t.Helper()
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("chromium screenshot: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	if dir := os.Getenv("XRAY_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(dir, name)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// dicomUpload is scripts/ref/serve_dicom_ref.py's output: testdata's MONOCHROME1 12-bit
// windowed file with a birth date added, and pydicom's 8-bit picture of it (cached).
type dicomUpload struct {
	Rows, Cols int
	Patient    []string // name, ID, birth date: never to be shown or answered
	file       string
	ref        *image.Gray
}

func pydicomUpload(t *testing.T) dicomUpload {
	t.Helper()
	script, src := pyref.Script("serve_dicom_ref.py"), filepath.Join(pyref.RepoRoot(), "testdata", "dicom", "mono1_window.dcm")
	dir := pyref.CacheDir(t, "serve_dicom_ref", pyref.FileHash(t, script), pyref.FileHash(t, pyref.Script("dicom_make.py")), pyref.FileHash(t, src))
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		pyref.Run(t, script, dir, src)
	}
	var u dicomUpload
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &u)
	}
	var pix []byte
	if err == nil {
		pix, err = os.ReadFile(filepath.Join(dir, "upload.auto.bin"))
	}
	if err != nil || len(pix) != u.Rows*u.Cols || len(u.Patient) != 3 {
		t.Fatalf("serve_dicom_ref.py output in %s: %v (%d pixels for %d x %d, %q)", dir, err, len(pix), u.Cols, u.Rows, u.Patient)
	}
	u.file = filepath.Join(dir, "upload.dcm")
	u.ref = &image.Gray{Pix: pix, Stride: u.Cols, Rect: image.Rect(0, 0, u.Cols, u.Rows)}
	return u
}

// checkDICOMUpload uploads a DICOM file: the page shows the class the Go API predicts for
// it, the overlay, and the picture the model sees in place of the preview the browser
// cannot decode: the server's PNG pixel for pixel, pydicom's windowed picture (resized by
// the shared preprocessing) within one level. Neither the page nor the answer holds the
// patient's name, ID or birth date.
func checkDICOMUpload(t *testing.T, bctx context.Context, url, model string) {
	t.Helper()
	u := pydicomUpload(t)
	m, err := savedmodels.Load(model, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pred, err := m.PredictFile(context.Background(), u.file)
	m.Close()
	if err != nil || pred[0].Err != nil {
		t.Fatalf("Go API on %s: %v %v", u.file, err, pred[0].Err)
	}
	const first = `#results > .result:first-child`
	err = chromedp.Do(bctx, chromedp.SetUploadFiles(`#file`, []string{u.file}),
		chromedp.WaitVisible(first+` .class[data-class]`), chromedp.WaitVisible(first+` img[alt='Grad-CAM overlay']`),
		chromedp.WaitVisible(first+` img.model-view`))
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
	want := []string{filepath.Base(u.file), labels.Default().Name(pred[0].Decision), "2"}
	if !slices.Equal(got, want) {
		t.Errorf("DICOM row shows name, class, images %q; want %q (the Go API's class, the model's picture and the overlay)", got, want)
	}
	shown := shownPixels(t, bctx, first+` img.model-view`)
	pre := preprocess.Preprocessor{Size: size}
	refPix, err := pre.Pixels(u.ref)
	if err != nil {
		t.Fatal(err)
	}
	approx.Within(t, "page's DICOM picture vs pydicom's (resized)", u8s(shown), u8s(refPix), approx.Abs, 1)
	b, err := os.ReadFile(u.file)
	if err != nil {
		t.Fatal(err)
	}
	goPix, err := pre.EncodedPixels(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, goPix) {
		t.Errorf("page's DICOM picture differs from the pixels the model gets (preprocess.EncodedPixels)")
	}
	html, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	var ans classification
	code, answer := do(t, "POST", url+"/v1/classify?explain=1&image=1", "application/dicom", b, &ans)
	if code != 200 || ans.Image == "" || ans.Overlay == "" {
		t.Errorf("/v1/classify?explain=1&image=1 on DICOM: %d, image %d and overlay %d base64 bytes", code, len(ans.Image), len(ans.Overlay))
	}
	noPatient(t, u.Patient, map[string]string{"page": html, "answer": string(answer)})
	keepScreenshot(t, bctx, "serve-page-dicom.png")
}

// shownPixels draws the page's image sel at its natural size on a canvas and returns its
// RGB pixels, row-major.
func shownPixels(t *testing.T, bctx context.Context, sel string) []uint8 {
	t.Helper()
	js := `(() => { const i = document.querySelector("` + sel + `"); const c = document.createElement("canvas");
	  c.width = i.naturalWidth; c.height = i.naturalHeight; const x = c.getContext("2d"); x.drawImage(i, 0, 0);
	  const d = x.getImageData(0, 0, c.width, c.height).data; const out = [c.width, c.height];
	  for (let k = 0; k < d.length; k += 4) out.push(d[k], d[k+1], d[k+2]);
	  return out; })()`
	v, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](js))
	if err != nil {
		t.Fatalf("chromium: reading %s: %v", sel, err)
	}
	if len(v) < 2 || v[0] != size || v[1] != size || len(v) != 2+3*size*size {
		t.Fatalf("page's %s: %d values, natural size %v; want %d x %d (the model's input)", sel, len(v), v[:min(2, len(v))], size, size)
	}
	out := make([]uint8, len(v)-2)
	for i, x := range v[2:] {
		out[i] = uint8(x)
	}
	return out
}

// noPatient fails when any text holds a patient value, whole or in DICOM's caret-split parts.
func noPatient(t *testing.T, patient []string, texts map[string]string) {
	t.Helper()
	var words []string
	for _, p := range patient {
		words = append(words, p)
		words = append(words, strings.Split(p, "^")...)
	}
	for what, text := range texts {
		for _, w := range words {
			if w != "" && strings.Contains(text, w) {
				t.Errorf("%s holds the patient's %q", what, w)
			}
		}
	}
}

func u8s(b []uint8) []float64 {
	out := make([]float64, len(b))
	for i, v := range b {
		out[i] = float64(v)
	}
	return out
}
