package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"mime/multipart"
	"testing"

	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
)

// liveTol: the served model against the live graph it was exported from (two sessions).
const liveTol = 1e-5

type predictions struct {
	Predictions []struct {
		Probabilities []float32 `json:"probabilities"`
		ClassID       int       `json:"class_id"`
	} `json:"predictions"`
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// checkRows compares row-format predictions with the live graph's probabilities.
func checkRows(t *testing.T, what string, got predictions, want [][]float32) {
	t.Helper()
	if len(got.Predictions) != len(want) {
		t.Fatalf("%s: %d predictions, want %d", what, len(got.Predictions), len(want))
	}
	for i, p := range got.Predictions {
		approx.Within(t, fmt.Sprintf("%s: instance %d", what, i), p.Probabilities, want[i], approx.Abs, liveTol)
		if p.ClassID != argmax(want[i]) {
			t.Errorf("%s: instance %d: class_id %d, live argmax %d", what, i, p.ClassID, argmax(want[i]))
		}
	}
}

func b64s(files [][]byte) []map[string]string {
	out := make([]map[string]string, len(files))
	for i, b := range files {
		out[i] = map[string]string{"b64": base64.StdEncoding.EncodeToString(b)}
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTFServingREST: the request and response shapes of TensorFlow Serving's REST API
// documentation (model status, metadata, predict in row and columnar form, b64 binary
// values, {"error": ...}), adapted to our signatures, with the live graph's answers.
func TestTFServingREST(t *testing.T) {
	f := newFixture(t, 1, 2)
	_, hs := f.start(t, Config{})
	want := f.versions[2].want
	url := hs.URL + "/v1/models/xray"

	var status struct {
		ModelVersionStatus []struct {
			Version string `json:"version"`
			State   string `json:"state"`
			Status  struct {
				ErrorCode    string `json:"error_code"`
				ErrorMessage string `json:"error_message"`
			} `json:"status"`
		} `json:"model_version_status"`
	}
	if code, b := do(t, "GET", url, "", nil, &status); code != 200 || len(status.ModelVersionStatus) != 1 ||
		status.ModelVersionStatus[0].Version != "2" || status.ModelVersionStatus[0].State != "AVAILABLE" ||
		status.ModelVersionStatus[0].Status.ErrorCode != "OK" {
		t.Errorf("GET %s: %d %s, want version 2 AVAILABLE", url, code, b)
	}

	var meta struct {
		ModelSpec struct{ Name, Version string } `json:"model_spec"`
		Metadata  struct {
			SignatureDef struct {
				SignatureDef map[string]struct {
					Inputs map[string]struct {
						Dtype       string `json:"dtype"`
						TensorShape struct {
							Dim []struct{ Size string } `json:"dim"`
						} `json:"tensor_shape"`
					} `json:"inputs"`
					Outputs    map[string]json.RawMessage `json:"outputs"`
					MethodName string                     `json:"method_name"`
				} `json:"signature_def"`
			} `json:"signature_def"`
		} `json:"metadata"`
	}
	if code, b := do(t, "GET", url+"/metadata", "", nil, &meta); code != 200 {
		t.Fatalf("metadata: %d %s", code, b)
	}
	sd := meta.Metadata.SignatureDef.SignatureDef
	if meta.ModelSpec.Name != "xray" || meta.ModelSpec.Version != "2" ||
		sd["serving_bytes"].Inputs["image_bytes"].Dtype != "DT_STRING" ||
		sd["serving_default"].Inputs["image"].Dtype != "DT_FLOAT" ||
		len(sd["serving_default"].Inputs["image"].TensorShape.Dim) != 4 ||
		sd["serving_default"].Inputs["image"].TensorShape.Dim[1].Size != fmt.Sprint(size) ||
		sd["serving_default"].MethodName != "tensorflow/serving/predict" || sd["serving_bytes"].Outputs["probabilities"] == nil {
		t.Errorf("metadata is not TensorFlow Serving's GetModelMetadataResponse for our signatures: %+v", meta)
	}

	instances := b64s(f.files)
	named := make([]map[string]any, len(f.files))
	for i, x := range instances {
		named[i] = map[string]any{"image_bytes": x}
	}
	for what, body := range map[string]any{
		"b64 instances":       map[string]any{"signature_name": "serving_bytes", "instances": instances},
		"named b64 instances": map[string]any{"signature_name": "serving_bytes", "instances": named},
		"pixel instances":     map[string]any{"instances": f.pixelRows()},
		"version path":        map[string]any{"signature_name": "serving_bytes", "instances": instances, "path": "/versions/2"},
	} {
		m := body.(map[string]any)
		path, _ := m["path"].(string)
		delete(m, "path")
		var got predictions
		code, b := do(t, "POST", url+path+":predict", "application/json", mustJSON(t, m), &got)
		if code != 200 {
			t.Errorf("%s: %d %s", what, code, b)
			continue
		}
		checkRows(t, what, got, want)
	}

	for what, inputs := range map[string]any{
		"columnar list":  instances,
		"columnar named": map[string]any{"image_bytes": instances},
	} {
		var got struct {
			Outputs struct {
				Probabilities [][]float32 `json:"probabilities"`
				ClassID       []int       `json:"class_id"`
			} `json:"outputs"`
		}
		body := mustJSON(t, map[string]any{"signature_name": "serving_bytes", "inputs": inputs})
		if code, b := do(t, "POST", url+":predict", "application/json", body, &got); code != 200 {
			t.Errorf("%s: %d %s", what, code, b)
			continue
		}
		approx.WithinRows(t, what, got.Outputs.Probabilities, want, approx.Abs, liveTol)
		if len(got.Outputs.ClassID) != len(want) {
			t.Errorf("%s: %d class ids", what, len(got.Outputs.ClassID))
		}
	}

	// Errors: TensorFlow Serving's {"error": ...} with a 4xx.
	for what, c := range map[string]struct {
		method, path, body string
		code               int
	}{
		"old version":    {"POST", "/versions/1:predict", `{"signature_name":"serving_bytes","instances":[{"b64":""}]}`, 404},
		"other model":    {"GET", "/../other", "", 404},
		"wrong verb":     {"POST", ":classify", `{}`, 400},
		"wrong sig name": {"POST", ":predict", `{"signature_name":"serving_gradcamx","instances":[1]}`, 400},
	} {
		u := url + c.path
		if what == "other model" {
			u = hs.URL + "/v1/models/other"
		}
		code, b := do(t, c.method, u, "application/json", []byte(c.body), nil)
		var e map[string]string
		if code != c.code || json.Unmarshal(b, &e) != nil || e["error"] == "" || len(e) != 1 {
			t.Errorf("%s: %d %s, want %d {\"error\": ...}", what, code, b, c.code)
		}
	}
}

// pixelRows are the fixture's preprocessed images as serving_default's nested lists.
func (f *fixture) pixelRows() [][][][]float32 {
	out := make([][][][]float32, len(f.pixels))
	for i, p := range f.pixels {
		img := make([][][]float32, size)
		for y := range img {
			img[y] = make([][]float32, size)
			for x := range img[y] {
				k := 3 * (y*size + x)
				img[y][x] = p[k : k+3]
			}
		}
		out[i] = img
	}
	return out
}

// TestClassify: raw bodies and multipart uploads get the live graph's class and
// probabilities, named by the model's classes.
func TestClassify(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	want := f.versions[1].want
	names := labels.Default().Names()
	for i, b := range f.files {
		var raw, form classification
		if code, body := do(t, "POST", hs.URL+"/v1/classify", "image/jpeg", b, &raw); code != 200 {
			t.Fatalf("raw: %d %s", code, body)
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, _ := mw.CreateFormFile("file", "scan.jpeg")
		w.Write(b)
		mw.Close()
		if code, body := do(t, "POST", hs.URL+"/v1/classify", mw.FormDataContentType(), buf.Bytes(), &form); code != 200 {
			t.Fatalf("multipart: %d %s", code, body)
		}
		for what, got := range map[string]classification{"raw": raw, "multipart": form} {
			c := argmax(want[i])
			gotP := []float32{got.Probabilities[names[0]], got.Probabilities[names[1]]}
			approx.Within(t, fmt.Sprintf("%s image %d", what, i), gotP, want[i], approx.Abs, liveTol)
			if got.ClassID != c || got.Class != names[c] || got.Decision.Class != names[c] || got.Decision.Rule != "argmax" ||
				got.Model.Version != "1" || got.Model.Metadata.RunID != "v1" {
				t.Errorf("%s image %d: %+v, want class %s by argmax from version 1", what, i, got, names[c])
			}
		}
	}
}

// TestClassifyExplain: ?explain=1 adds the overlay package explain draws from the
// library's Explain (itself checked against Keras), and the same probabilities.
func TestClassifyExplain(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	lib, err := savedmodels.Load(f.versions[1].dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	var got classification
	if code, b := do(t, "POST", hs.URL+"/v1/classify?explain=1", "image/jpeg", f.files[0], &got); code != 200 {
		t.Fatalf("explain=1: %d %s", code, b)
	}
	img, err := preprocess.Decode(f.files[0])
	if err != nil {
		t.Fatal(err)
	}
	ex, err := lib.Explain(context.Background(), img)
	if err != nil || ex[0].Err != nil {
		t.Fatal(err, ex)
	}
	want, err := explain.Overlay(img, ex[0].Heatmap, ex[0].Size, explain.DefaultAlpha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(got.Overlay)
	if err != nil {
		t.Fatalf("overlay is not base64: %v", err)
	}
	ov, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("overlay is not a PNG: %v", err)
	}
	if ov.Bounds() != want.Bounds() || !bytes.Equal(toRGBA(ov).Pix, want.Pix) {
		t.Errorf("overlay %v differs from explain.Overlay's %v", ov.Bounds(), want.Bounds())
	}
	names := labels.Default().Names()
	gotP := []float32{got.Probabilities[names[0]], got.Probabilities[names[1]]}
	approx.Within(t, "explain=1 probabilities", gotP, f.versions[1].want[0], approx.Abs, liveTol)
	if got.Explained != got.Class {
		t.Errorf("explained %q, want the predicted class %q", got.Explained, got.Class)
	}
	var info modelInfo
	if code, b := do(t, "GET", hs.URL+"/v1/xray", "", nil, &info); code != 200 || !info.Explain || info.Version != "1" {
		t.Errorf("/v1/xray: %d %s, want version 1 with explain", code, b)
	}
}

func toRGBA(img image.Image) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}
