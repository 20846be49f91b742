package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels"
)

// procStatus reads a kB field of /proc/self/status (VmRSS, VmHWM) in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("/proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// repeatReader yields prefix, then unit n times, then suffix, without holding the whole.
func repeatReader(prefix, unit string, n int, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix),
		io.LimitReader(&cycle{s: unit}, int64(len(unit)*n)), strings.NewReader(suffix))
}

type cycle struct {
	s string
	i int
}

func (c *cycle) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = c.s[c.i]
		c.i = (c.i + 1) % len(c.s)
	}
	return len(b), nil
}

// TestHugeBodiesStayBounded: an 18 MB {"instances":[0,0,...]} (9 million entries) and an
// 18 MB single image of 9 million values are refused with 400 while the process's peak
// RSS grows by less than 64 MB: the limits bite as the values arrive, not after the
// whole body has been parsed (the issue measured +0.9 GB before).
func TestHugeBodiesStayBounded(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	const n = 9_000_000
	for _, c := range []struct {
		what, prefix, unit, suffix string
		n                          int
		says                       string
	}{ // each about 18 MB
		{"9M instances [0,0,...]", `{"instances":[`, "0,", `0]}`, n, "instance 0: want"},
		{"6M empty b64 instances", `{"signature_name":"serving_bytes","instances":[`, `"",`, `""]}`, 6_000_000, "over the server's limit of 64"},
		{"one image of 9M values", `{"instances":[[[`, "[0,0,0],", `[0,0,0]]]]}`, n / 4, "more than 32 pixels"},
	} {
		runtime.GC()
		debug.FreeOSMemory()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Fatalf("resetting the peak RSS (VmHWM): %v", err)
		}
		before := procStatus(t, "VmRSS")
		body := repeatReader(c.prefix, c.unit, c.n, c.suffix)
		req, _ := http.NewRequest("POST", hs.URL+"/v1/models/xray:predict", body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		peak := procStatus(t, "VmHWM") - before
		if resp.StatusCode != 400 || !strings.Contains(string(b), c.says) {
			t.Errorf("%s: %d %s, want 400 saying %q", c.what, resp.StatusCode, b, c.says)
		}
		t.Logf("%s: peak RSS +%.1f MB", c.what, float64(peak)/(1<<20))
		if peak >= 64<<20 {
			t.Errorf("%s: peak RSS grew by %.0f MB, want < 64 MB", c.what, float64(peak)/(1<<20))
		}
	}
}

// TestPythonClientGzipNaN: a Python client (urllib, json, gzip) sends a gzip-compressed
// serving_bytes request and serving_default pixels holding NaN, Infinity and -Infinity
// (json.dumps' bare words), as TensorFlow Serving accepts; the answers equal the live
// graph's (gzip) and the library's on the same values (NaN), and Python's json reads them.
func TestPythonClientGzipNaN(t *testing.T) {
	pyref.Require(t)
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	predict := hs.URL + "/v1/models/xray:predict"
	img := make([][][]float32, size)
	for y := range img {
		img[y] = make([][]float32, size)
		for x := range img[y] {
			img[y][x] = f.pixels[0][(y*size+x)*3 : (y*size+x)*3+3]
		}
	}
	bytesReq := map[string]any{"signature_name": "serving_bytes", "instances": b64s(f.files)}
	pixelsReq := map[string]any{"instances": [][][][]float32{img}}
	plan := []map[string]any{
		{"url": predict, "json": bytesReq, "gzip": true, "headers": map[string]string{"Content-Type": "application/json"}},
		{"url": predict, "json": pixelsReq, "nan_at": []int{0, 1, 2}},
		{"url": predict, "json": pixelsReq, "nan_at": []int{0, 1, 2}, "gzip": true},
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, mustJSON(t, plan), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Status int
		Body   struct {
			Predictions []struct {
				Probabilities []any `json:"probabilities"`
			} `json:"predictions"`
		}
	}
	out := pyref.Run(t, pyref.Script("serve_client.py"), path)
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(plan) {
		t.Fatalf("client output %s: %v", out, err)
	}
	probs := func(i int) [][]float32 {
		var rows [][]float32
		for _, p := range got[i].Body.Predictions {
			var row []float32
			for _, v := range p.Probabilities {
				switch v := v.(type) {
				case float64:
					row = append(row, float32(v))
				case string:
					row = append(row, float32(map[string]float64{"NaN": math.NaN(), "Infinity": math.Inf(1), "-Infinity": math.Inf(-1)}[v]))
				}
			}
			rows = append(rows, row)
		}
		return rows
	}
	for i, r := range got {
		if r.Status != 200 {
			t.Fatalf("request %d: %d %s", i, r.Status, out)
		}
	}
	approx.WithinRows(t, "gzip serving_bytes", probs(0), f.versions[1].want, approx.Abs, 1e-5)

	m, err := savedmodels.Load(f.versions[1].dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	px := append([]float32(nil), f.pixels[0]...)
	px[0], px[1], px[2] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
	want, err := m.PredictPixels(context.Background(), px)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		p := probs(i)
		if len(p) != 1 {
			t.Fatalf("NaN request %d: %s", i, out)
		}
		for k, w := range want[0].Probabilities {
			if g := p[0][k]; g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
				t.Errorf("NaN request %d: probability %d = %v, the library gives %v", i, k, g, w)
			}
		}
	}
}

// TestGzipAndEncodings: a gzip body is served, a gzip bomb stops at the body limit
// (decompressed), broken gzip is 400 and another Content-Encoding 415; malformed bodies
// get messages free of Go's type names.
func TestGzipAndEncodings(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{MaxBodyBytes: 1 << 20})
	predict := hs.URL + "/v1/models/xray:predict"
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	send := func(body []byte, enc string) (int, string) {
		req, _ := http.NewRequest("POST", predict, bytes.NewReader(body))
		req.Header.Set("Content-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := mustJSON(t, map[string]any{"signature_name": "serving_bytes", "instances": b64s(f.files[:1])})
	bomb := gz(append([]byte(`{"instances":[`), bytes.Repeat([]byte(" "), 64<<20)...)) // 64 MB of spaces in ~64 KB
	for _, c := range []struct {
		what string
		body []byte
		enc  string
		code int
		says string
	}{
		{"gzip", gz(good), "gzip", 200, "probabilities"},
		{"gzip bomb", bomb, "gzip", 413, "limit of 1048576 bytes"},
		{"broken gzip", []byte("not gzip at all"), "gzip", 400, "gzip"},
		{"brotli", good, "br", 415, `Content-Encoding \"br\"`},
	} {
		if code, b := send(c.body, c.enc); code != c.code || !strings.Contains(b, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.what, code, b, c.code, c.says)
		}
	}
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed: not a bomb", len(bomb))
	}
	for _, body := range []string{`{"instances":{"a":1}}`, `{"signature_name":5,"instances":[]}`, `[1,2]`,
		`{"instances":[{"b64":7}]}`, `{"instances":[[[[0,0,"x"]]]]}`, `{"inputs":{"image":[1],"other":[2]}}`, `{"instances":[true]}`} {
		code, b := send([]byte(body), "")
		if code != 400 || strings.Contains(b, "Go ") || strings.Contains(b, "struct") || strings.Contains(b, "json:") || strings.Contains(b, "unmarshal") {
			t.Errorf("%s: %d %s, want 400 in the API's words", body, code, b)
		}
	}
}

// TestImageSizeRule: serving refuses what ingest refuses (a 16 x 16 image) and refuses
// from the header, with 413, every image over the one pixel limit (a 36 Mpx PNG header,
// which the decoder's inner cap answered with 400 before); a lower MaxPixels bites first.
func TestImageSizeRule(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	_, low := f.start(t, Config{MaxPixels: 1_000_000})
	var tiny, tinyPNG bytes.Buffer
	g := image.NewGray(image.Rect(0, 0, 16, 16))
	jpeg.Encode(&tiny, g, nil)
	png.Encode(&tinyPNG, g)
	for _, c := range []struct {
		what, url string
		body      []byte
		code      int
		says      string
	}{
		{"16 x 16 JPEG", hs.URL, tiny.Bytes(), 400, "16 x 16 pixels: smaller than 32 px"},
		{"16 x 16 PNG", hs.URL, tinyPNG.Bytes(), 400, "smaller than 32 px"},
		{"36 Mpx PNG", hs.URL, pngBomb(t, 6000), 413, "36000000 pixels, over the server's limit of 33554432"},
		{"1.2 Mpx under a 1 Mpx limit", low.URL, pngBomb(t, 1100), 413, "limit of 1000000"},
	} {
		code, b := do(t, "POST", c.url+"/v1/classify", "image/png", c.body, nil)
		if code != c.code || !strings.Contains(string(b), c.says) {
			t.Errorf("classify %s: %d %s, want %d saying %q", c.what, code, b, c.code, c.says)
		}
		body := mustJSON(t, map[string]any{"signature_name": "serving_bytes", "instances": b64s([][]byte{c.body})})
		code, b = do(t, "POST", c.url+"/v1/models/xray:predict", "application/json", body, nil)
		if code != c.code || !strings.Contains(string(b), c.says) {
			t.Errorf(":predict %s: %d %s, want %d saying %q", c.what, code, b, c.code, c.says)
		}
	}
}

// TestMultipartFields: the image goes in the field "file"; without it the message says
// so, and a second file is refused instead of dropped.
func TestMultipartFields(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	form := func(fields ...string) (string, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, name := range fields {
			if strings.HasPrefix(name, "=") {
				mw.WriteField(name[1:], "some text")
				continue
			}
			w, _ := mw.CreateFormFile(name, "scan.jpeg")
			w.Write(f.files[0])
		}
		mw.Close()
		return mw.FormDataContentType(), buf.Bytes()
	}
	for _, c := range []struct {
		fields []string
		code   int
		says   string
	}{
		{[]string{"=note", "file"}, 200, `"class"`},
		{[]string{"=note"}, 400, `no field \"file\" (fields: \"note\")`},
		{[]string{"image"}, 400, `field \"image\" holds a file`},
		{[]string{"file", "file"}, 400, `more than one \"file\"`},
		{[]string{"file", "other"}, 400, `field \"other\" holds a file`},
	} {
		ct, body := form(c.fields...)
		if code, b := do(t, "POST", hs.URL+"/v1/classify", ct, body, nil); code != c.code || !strings.Contains(string(b), c.says) {
			t.Errorf("fields %v: %d %s, want %d saying %s", c.fields, code, b, c.code, c.says)
		}
	}
}
