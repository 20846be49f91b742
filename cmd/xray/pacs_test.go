package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/browsertest"
	"github.com/xraylab/xray/internal/orthanctest"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/pacs"
	"github.com/xraylab/xray/pacs/dicomweb"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

// pacsFixture is scripts/ref/pacs_make.py's index.json.
type pacsFixture struct {
	Patient struct {
		Name      string `json:"name"`
		ID        string `json:"id"`
		BirthDate string `json:"birth_date"`
	} `json:"patient"`
	Instances []fixtureInstance `json:"instances"`
}

type fixtureInstance struct {
	File, Kind, Study, Series, SOP string
	SOPClass                       string `json:"sop_class"`
}

// makePACSFixture writes n testdata X-rays (and, with extras, the hand, corrupt and huge
// instances) as DICOM studies with pydicom.
func makePACSFixture(t *testing.T, n int, extras bool) pacsFixture {
	t.Helper()
	imgs, err := filepath.Glob("../../testdata/chest_xray/train/*/*.jpeg")
	if err != nil || len(imgs) < n {
		t.Fatalf("need %d X-rays in testdata/chest_xray/train: %v", n, err)
	}
	dir := t.TempDir()
	args := []string{dir}
	if extras {
		args = append(args, "--extras")
	}
	pyref.Run(t, pyref.Script("pacs_make.py"), append(args, imgs[:n]...)...)
	var fx pacsFixture
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || json.Unmarshal(b, &fx) != nil {
		t.Fatalf("pacs_make.py index: %v", err)
	}
	return fx
}

func (fx pacsFixture) files(kinds ...string) (files, sops []string) {
	for _, in := range fx.Instances {
		if slices.Contains(kinds, in.Kind) {
			files, sops = append(files, in.File), append(sops, in.SOP)
		}
	}
	return files, sops
}

// tinyPACSModel exports a small random model with Grad-CAM at 96 px.
func tinyPACSModel(t *testing.T) string {
	t.Helper()
	m, sess := savedmodelstest.TinyModel(t, 96, 28)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "pacs-test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

type pacsLine struct {
	SOP     string    `json:"sop_instance_uid"`
	Action  string    `json:"action"`
	Class   string    `json:"class"`
	Probs   []float32 `json:"probabilities"`
	SR      string    `json:"sr_instance_uid"`
	Overlay string    `json:"overlay_instance_uid"`
	Error   string    `json:"error"`
}

func pacsLines(t *testing.T, stdout string) map[string]pacsLine {
	t.Helper()
	out := map[string]pacsLine{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		var p pacsLine
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if _, dup := out[p.SOP]; dup {
			t.Errorf("two lines for %s", p.SOP)
		}
		out[p.SOP] = p
	}
	return out
}

// pacsSR is one SR as scripts/ref/pacs_check.py reads it.
type pacsSR struct {
	SOP, Series, Study, Modality string
	SOPClass                     string     `json:"sop_class"`
	PatientName                  string     `json:"patient_name"`
	PatientID                    string     `json:"patient_id"`
	PatientBirthDate             string     `json:"patient_birth_date"`
	Evidence                     [][]string `json:"evidence"`
	Findings                     []struct {
		Code        []string
		Probability float64
		Unit        []string
		Source      []string
	}
	Impression  []string
	Threshold   *float64
	Algorithm   struct{ Name, Version, Parameters string }
	ObserverTyp []string `json:"observer_type"`
	Completion  string
	UIDOK       bool `json:"uid_ok"`
	CodesKnown  bool `json:"codes_known"`
	Digest      string
}

// pacsCheck is scripts/ref/pacs_check.py's answer (dicomweb-client, highdicom, pydicom).
type pacsCheck struct {
	SRs      []pacsSR `json:"srs"`
	Overlays []struct {
		SOP, Study, Modality string
		SOPClass             string   `json:"sop_class"`
		ImageType            []string `json:"image_type"`
		BurnedIn             string   `json:"burned_in"`
		Source               []string
		Shape                []int
		Photometric          string
		PatientID            string `json:"patient_id"`
		UIDOK                bool   `json:"uid_ok"`
		ColourPixels         int    `json:"colour_pixels"`
	} `json:"overlays"`
	SRPerSource      map[string]int `json:"sr_per_source"`
	OverlayPerSource map[string]int `json:"overlay_per_source"`
}

func checkPACS(t *testing.T, o *orthanctest.Server, out string) pacsCheck {
	t.Helper()
	b := pyref.Run(t, pyref.Script("pacs_check.py"), o.DICOMweb(), orthanctest.User, orthanctest.Password, out)
	var c pacsCheck
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("pacs_check.py: %v\n%s", err, b)
	}
	return c
}

// TestPACS: xray pacs against a real Orthanc holding two chest studies (DX, CR), a hand
// (not chest), a corrupt and a huge instance. A wrong password is one clear error; a
// dry run lists the five chest images; a run stores an SR and an overlay for each good
// image, reports the corrupt and the huge one (refused by --max-instance-size) and exits
// 1; a second run stores nothing. What was stored, read back by dicomweb-client and
// parsed by highdicom and dsrdump, holds the model's probabilities for the file on disk,
// its decision, the source reference, the patient and study of the source; no output of
// any run names the patient.
func TestPACS(t *testing.T) {
	o := orthanctest.Start(t)
	fx := makePACSFixture(t, 3, true)
	all, _ := fx.files("chest", "hand", "corrupt", "huge")
	o.Upload(t, all...)
	model := tinyPACSModel(t)
	base := []string{"pacs", "--url", o.DICOMweb(), "--user", orthanctest.User, "--savedmodel", model, "--max-instance-size", "1MiB", "--retries", "1"}
	var outputs []string
	runPACS := func(extra ...string) (int, string, string) {
		t.Setenv("XRAY_PACS_PASSWORD", orthanctest.Password)
		code, stdout, stderr := runCLI(t, append(slices.Clone(base), extra...)...)
		outputs = append(outputs, stdout, stderr)
		return code, stdout, stderr
	}

	code, _, stderr := runPACS("--password", "wrong")
	if code != exitFailure || !strings.Contains(stderr, "refused the credentials") || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
		t.Errorf("wrong password: exit %d, stderr %q; want 1 and one line saying the credentials were refused", code, stderr)
	}

	_, chest := fx.files("chest", "corrupt", "huge")
	code, stdout, stderr := runPACS("--dry-run")
	lines := pacsLines(t, stdout)
	if code != exitOK || len(lines) != len(chest) {
		t.Fatalf("dry run: exit %d, %d lines for %d chest images\n%s%s", code, len(lines), len(chest), stdout, stderr)
	}
	for _, sop := range chest {
		if lines[sop].Action != pacs.ActionWould {
			t.Errorf("dry run: %s: %+v, want %s", sop, lines[sop], pacs.ActionWould)
		}
	}
	if n := o.Count(t); n != len(all) {
		t.Errorf("dry run stored something: %d instances, want %d", n, len(all))
	}

	code, stdout, stderr = runPACS("--concurrency", "2")
	lines = pacsLines(t, stdout)
	if code != exitFailure || !strings.Contains(stderr, "2 of 5 images failed") {
		t.Errorf("run: exit %d, stderr %q; want 1 and 2 of 5 failed", code, stderr)
	}
	_, bad := fx.files("corrupt")
	_, huge := fx.files("huge")
	if l := lines[bad[0]]; l.Action != pacs.ActionFailed || !strings.Contains(l.Error, "pixel data") {
		t.Errorf("corrupt instance: %+v, want a pixel data error", l)
	}
	if l := lines[huge[0]]; l.Action != pacs.ActionFailed || !strings.Contains(l.Error, dicomweb.ErrTooLarge.Error()) {
		t.Errorf("huge instance: %+v, want %q", l, dicomweb.ErrTooLarge)
	}
	files, good := fx.files("chest")
	for _, sop := range good {
		if lines[sop].Action != pacs.ActionStored {
			t.Errorf("%s: %+v, want stored", sop, lines[sop])
		}
	}
	after := o.Count(t)
	if after != len(all)+2*len(good) {
		t.Errorf("%d instances after the run, want %d (an SR and an overlay per good image)", after, len(all)+2*len(good))
	}

	code, stdout, _ = runPACS()
	lines = pacsLines(t, stdout)
	for _, sop := range good {
		if lines[sop].Action != pacs.ActionSkipped {
			t.Errorf("second run: %s: %+v, want skipped", sop, lines[sop])
		}
	}
	if n := o.Count(t); code != exitFailure || n != after {
		t.Errorf("second run: exit %d, %d instances (before %d): it must store nothing", code, n, after)
	}

	stored := filepath.Join(t.TempDir(), "stored")
	got := checkPACS(t, o, stored)
	checkStored(t, fx, files, good, model, got)
	checkDsrdump(t, stored, got)
	checkWebViewer(t, o, got.Overlays[0].SOP)

	for _, out := range outputs {
		for _, secret := range []string{fx.Patient.Name, "Doe", fx.Patient.ID, fx.Patient.BirthDate} {
			if strings.Contains(out, secret) {
				t.Errorf("output names the patient (%q):\n%s", secret, out)
			}
		}
	}
}

// checkStored compares what Python read back with the model's own prediction of each
// file on disk.
func checkStored(t *testing.T, fx pacsFixture, files, good []string, modelDir string, got pacsCheck) {
	t.Helper()
	m, err := savedmodels.Load(modelDir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	bySource := map[string]int{}
	for i, sr := range got.SRs {
		bySource[sr.Findings[0].Source[1]] = i
	}
	if len(got.SRs) != len(good) || len(got.Overlays) != len(good) {
		t.Fatalf("%d SRs and %d overlays in the PACS, want %d each", len(got.SRs), len(got.Overlays), len(good))
	}
	for k, sop := range good {
		p := predictFileBytes(t, m, files[k])
		i, ok := bySource[sop]
		if !ok || got.SRPerSource[sop] != 1 || got.OverlayPerSource[sop] != 1 {
			t.Errorf("%s: %d SRs, %d overlays, want one each", sop, got.SRPerSource[sop], got.OverlayPerSource[sop])
			continue
		}
		sr := got.SRs[i]
		src := fx.Instances[slices.IndexFunc(fx.Instances, func(in fixtureInstance) bool { return in.SOP == sop })]
		if sr.SOPClass != pacs.ComprehensiveSRStorage || sr.Modality != "SR" || sr.Study != src.Study || sr.Series == src.Series ||
			sr.PatientName != fx.Patient.Name || sr.PatientID != fx.Patient.ID || sr.PatientBirthDate != fx.Patient.BirthDate ||
			!sr.UIDOK || !sr.CodesKnown || sr.Completion != "COMPLETE" || len(sr.Evidence) != 1 || sr.Evidence[0][1] != sop ||
			sr.Evidence[0][0] != src.SOPClass || strings.Join(sr.ObserverTyp, "|") != "121007|DCM|Device" {
			t.Errorf("%s: SR %+v", sop, sr)
		}
		meta := m.Metadata()
		if len(sr.Findings) != len(meta.Classes) {
			t.Fatalf("%s: %d findings for %d classes", sop, len(sr.Findings), len(meta.Classes))
		}
		var probs []float64
		for c, f := range sr.Findings {
			v, s, mn := pacs.ClassCode(meta.Classes[c])
			if strings.Join(f.Code, "|") != v+"|"+s+"|"+mn || strings.Join(f.Unit, "|") != "1|UCUM|no units" || f.Source[1] != sop {
				t.Errorf("%s: finding %d %+v", sop, c, f)
			}
			probs = append(probs, f.Probability)
		}
		// The SR's decimal strings keep 8 significant digits of the float32 probabilities.
		approx.Within(t, sop+" SR probabilities vs the model on the file", probs, p[0].Probabilities, approx.Abs, 1e-6)
		if v, s, mn := pacs.ClassCode(meta.Classes[p[0].Decision]); strings.Join(sr.Impression, "|") != v+"|"+s+"|"+mn {
			t.Errorf("%s: impression %v, the model decides %s", sop, sr.Impression, meta.Classes[p[0].Decision])
		}
		if !strings.Contains(sr.Algorithm.Version, "run pacs-test") || !strings.Contains(sr.Algorithm.Parameters, "sha256:") {
			t.Errorf("%s: algorithm %+v", sop, sr.Algorithm)
		}
	}
	for _, ov := range got.Overlays {
		if ov.SOPClass != pacs.SecondaryCaptureStorage || strings.Join(ov.ImageType, `\`) != `DERIVED\SECONDARY` || ov.BurnedIn != "YES" ||
			ov.Photometric != "RGB" || len(ov.Shape) != 3 || ov.Shape[2] != 3 || ov.Shape[0] < 300 || !ov.UIDOK || ov.ColourPixels == 0 ||
			!slices.Contains(good, ov.Source[1]) || ov.PatientID != fx.Patient.ID {
			t.Errorf("overlay %+v", ov)
		}
	}
}

// checkDsrdump reads each stored SR with dcmtk's dsrdump: it must parse it as a
// Comprehensive SR without complaint, with the tree's finding and impression lines.
func checkDsrdump(t *testing.T, dir string, got pacsCheck) {
	t.Helper()
	bin, err := exec.LookPath("dsrdump")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dcmtk's dsrdump required in CI (scripts/setup.sh installs dcmtk)")
		}
		t.Skip("no dsrdump (dcmtk)")
	}
	for _, sr := range got.SRs {
		out, err := exec.Command(bin, "+Pc", filepath.Join(dir, sr.SOP+".dcm")).CombinedOutput()
		s := string(out)
		if err != nil || strings.Contains(s, "W: ") || strings.Contains(s, "E: ") || !strings.HasPrefix(s, "Comprehensive SR Document") ||
			!strings.Contains(s, `<contains CODE:(121071,DCM,"Finding")=(233604007,SCT,"Pneumonia")>`) ||
			!strings.Contains(s, `<has properties NUM:(122157,DCM,"Probability")=`) ||
			!strings.Contains(s, `<contains CODE:(121073,DCM,"Impression")=`) {
			t.Errorf("dsrdump %s: %v\n%s", sr.SOP, err, s)
		}
	}
}

// startPACS runs xray pacs as a process (this test binary as main) and returns its
// command, a channel of its JSON lines as they come, and its stderr.
func startPACS(t *testing.T, args ...string) (*exec.Cmd, <-chan pacsLine, *strings.Builder) {
	t.Helper()
	cmd := xrayCommand(append([]string{"pacs"}, args...)...)
	cmd.Env = append(cmd.Env, "XRAY_PACS_PASSWORD="+orthanctest.Password)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan pacsLine, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l pacsLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	return cmd, lines, &stderr
}

// waitStored reads lines until n images are stored (or the lines end); it returns how
// many it saw.
func waitStored(lines <-chan pacsLine, n int, sops ...string) int {
	seen := 0
	for l := range lines {
		if l.Action == pacs.ActionStored && (len(sops) == 0 || slices.Contains(sops, l.SOP)) {
			if seen++; seen == n {
				return seen
			}
		}
	}
	return seen
}

// TestPACSInterrupted: xray pacs killed with SIGKILL after its first stored image, then
// again with Orthanc stopped under it (it must exit with one clear error), then run to the
// end once Orthanc is back: every image has exactly one SR and one overlay, as
// dicomweb-client counts them. Then --watch --overlay=false picks up a study uploaded
// while it watches: an SR each (the model's probabilities for the file), no overlay.
func TestPACSInterrupted(t *testing.T) {
	o := orthanctest.Start(t)
	fx := makePACSFixture(t, 14, false)
	files, sops := fx.files("chest")
	o.Upload(t, files[:12]...)
	model := tinyPACSModel(t)
	args := []string{"--url", o.DICOMweb(), "--user", orthanctest.User, "--savedmodel", model, "--concurrency", "1"}

	cmd, lines, _ := startPACS(t, args...)
	if waitStored(lines, 1) != 1 {
		t.Fatal("the first run stored nothing")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := o.Count(t) - 12
	if killedAt >= 2*12 {
		t.Fatalf("the run finished (%d results) before the kill: the test needs more images", killedAt)
	}

	cmd, lines, stderr := startPACS(t, append(args, "--retries", "1", "--timeout", "5s")...)
	if waitStored(lines, 1) != 1 {
		t.Fatal("the second run stored nothing")
	}
	o.Stop()
	for range lines {
	}
	err := cmd.Wait()
	msg := strings.TrimSpace(stderr.String())
	if err == nil || !strings.Contains(msg, "xray: error: ") || !strings.Contains(msg, dicomweb.ErrUnavailable.Error()) || !strings.Contains(msg, "run again") {
		t.Fatalf("Orthanc stopped mid-run: %v, stderr:\n%s\nwant exit 1 and the unavailable error", err, msg)
	}
	o.Restart()

	code, stdout, stderr2 := runCLI(t, append([]string{"pacs", "--password", orthanctest.Password}, args...)...)
	done := pacsLines(t, stdout)
	if code != exitOK || len(done) != 12 {
		t.Fatalf("rerun: exit %d, %d lines\n%s", code, len(done), stderr2)
	}

	cmd, lines, _ = startPACS(t, append(args, "--watch", "300ms", "--overlay=false")...)
	o.Upload(t, files[12:]...)
	if n := waitStored(lines, 2, sops[12:]...); n != 2 {
		t.Fatalf("--watch stored %d of the 2 images uploaded while it watched", n)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()

	got := checkPACS(t, o, filepath.Join(t.TempDir(), "stored"))
	for k, sop := range sops {
		wantOverlays := 1
		if k >= 12 { // stored by --overlay=false
			wantOverlays = 0
		}
		if got.SRPerSource[sop] != 1 || got.OverlayPerSource[sop] != wantOverlays {
			t.Errorf("%s: %d SRs, %d overlays; want exactly one SR, %d overlays", sop, got.SRPerSource[sop], got.OverlayPerSource[sop], wantOverlays)
		}
	}
	if len(got.SRs) != len(sops) || len(got.Overlays) != 12 {
		t.Errorf("%d SRs, %d overlays for %d images (the last 2 without)", len(got.SRs), len(got.Overlays), len(sops))
	}
	checkSROnly(t, model, files[12:], sops[12:], got)
}

// checkSROnly compares the SRs stored without overlays with the model's prediction of
// each file on disk.
// predictFileBytes is the model's prediction of a DICOM file's bytes from disk, the
// reference the results in the PACS are checked against.
func predictFileBytes(t *testing.T, m *savedmodels.Model, path string) []savedmodels.Prediction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.PredictBytes(context.Background(), b)
	if err != nil || p[0].Err != nil {
		t.Fatalf("%s: %v %v", path, err, p[0].Err)
	}
	return p
}

func checkSROnly(t *testing.T, modelDir string, files, sops []string, got pacsCheck) {
	t.Helper()
	m, err := savedmodels.Load(modelDir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for k, sop := range sops {
		p := predictFileBytes(t, m, files[k])
		i := slices.IndexFunc(got.SRs, func(sr pacsSR) bool { return len(sr.Findings) > 0 && sr.Findings[0].Source[1] == sop })
		if i < 0 || len(got.SRs[i].Findings) != len(p[0].Probabilities) {
			t.Errorf("%s: no SR with a finding per class", sop)
			continue
		}
		var probs []float64
		for _, f := range got.SRs[i].Findings {
			probs = append(probs, f.Probability)
		}
		approx.Within(t, sop+" --overlay=false SR probabilities vs the model on the file", probs, p[0].Probabilities, approx.Abs, 1e-6)
	}
}

// checkWebViewer opens the overlay's series in Orthanc's own web viewer (Debian's
// orthanc-webviewer) in headless Chromium and waits until the viewer's canvas shows the
// heatmap's colours; the screenshot is kept at $XRAY_PACS_SCREENSHOT when set.
func checkWebViewer(t *testing.T, o *orthanctest.Server, overlaySOP string) {
	t.Helper()
	browser := browsertest.Chromium(t)
	series := o.SeriesID(t, overlaySOP)
	bctx := browsertest.Context(t, browser, 1000, 800)
	auth := base64.StdEncoding.EncodeToString([]byte(orthanctest.User + ":" + orthanctest.Password))
	err := chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + auth}})
		return err
	}), chromedp.Navigate(o.URL+"/web-viewer/app/viewer.html?series="+series))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// Pixels of the viewer's canvases whose channels differ by more than 60: the heatmap's
	// colours (the X-ray is gray, the viewer's background black).
	const colourful = `[...document.querySelectorAll('canvas')].reduce((n, c) => {
		const g = c.width && c.height && c.getContext('2d');
		if (!g) return n;
		const d = g.getImageData(0, 0, c.width, c.height).data;
		for (let i = 0; i < d.length; i += 4) {
			if (Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 60) n++;
		}
		return n;
	}, 0)`
	var n int
	for range 150 {
		if n, err = chromedp.Run(bctx, chromedp.Evaluate[int](colourful)); err == nil && n > 1000 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	shot, serr := chromedp.Run(bctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if out := os.Getenv("XRAY_PACS_SCREENSHOT"); out != "" && serr == nil {
		_ = os.WriteFile(out, shot, 0o644)
	}
	if err != nil || n <= 1000 {
		t.Errorf("Orthanc's web viewer shows %d colour pixels of the overlay series (%v); want the heatmap", n, err)
	}
}
