package serve

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tf "github.com/wamuir/graft/tensorflow"
	apis "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/serve/versions"
	"google.golang.org/protobuf/encoding/protojson"
)

// statusOf reads GET /v1/models/NAME into TensorFlow Serving's own GetModelStatusResponse
// (protojson: the REST answer must have its field and enum names).
func statusOf(t *testing.T, url string) map[int64]*apis.ModelVersionStatus {
	t.Helper()
	code, b := do(t, "GET", url, "", nil, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, b)
	}
	var resp apis.GetModelStatusResponse
	if err := protojson.Unmarshal(b, &resp); err != nil {
		t.Fatalf("GET %s: not a GetModelStatusResponse: %v: %s", url, err, b)
	}
	out := map[int64]*apis.ModelVersionStatus{}
	for _, v := range resp.GetModelVersionStatus() {
		out[v.GetVersion()] = v
	}
	return out
}

// waitFor polls cond every 10ms for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// predictVersion predicts the fixture's files on url's model (version n, 0 for none).
func predictVersion(t *testing.T, url string, n int, files [][]byte) (int, [][]float32) {
	t.Helper()
	if n > 0 {
		url += "/versions/" + strconv.Itoa(n)
	}
	var rows predictions
	code, _ := do(t, "POST", url+":predict", "application/json",
		mustJSON(t, map[string]any{"signature_name": "serving_bytes", "instances": b64s(files)}), &rows)
	var out [][]float32
	for _, r := range rows.Predictions {
		out = append(out, r.Probabilities)
	}
	return code, out
}

// TestVersionStates: with a latest-2 policy both newest versions serve, each its own
// answers; a corrupt version 3 is END with UNKNOWN and its load error while 1 and 2 keep
// serving; a version deleted from disk is unloaded (END, OK, then 404); with every
// version deleted the model is unloaded, logged, /readyz 503 and requests 404, as
// TensorFlow Serving does; a version copied back in serves again.
func TestVersionStates(t *testing.T) {
	f := newFixture(t, 1, 2)
	var logs syncBuffer
	s, hs := f.start(t, Config{Policy: versions.Policy{Latest: 2}, Poll: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	go s.Watch(t.Context())
	url := hs.URL + "/v1/models/xray"
	st := statusOf(t, url)
	for _, n := range []int64{1, 2} {
		if st[n].GetState() != apis.ModelVersionStatus_AVAILABLE || st[n].GetStatus().GetErrorCode() != 0 {
			t.Errorf("version %d: %v, want AVAILABLE OK", n, st[n])
		}
	}
	for _, n := range []int{1, 2} {
		code, got := predictVersion(t, url, n, f.files)
		if code != 200 {
			t.Fatalf("version %d: %d", n, code)
		}
		approx.WithinRows(t, "version "+strconv.Itoa(n), got, f.versions[n].want, approx.Abs, 1e-5)
	}
	if _, got := predictVersion(t, url, 0, f.files); len(got) == 0 {
		t.Fatal("no version named: nothing served")
	} else {
		approx.WithinRows(t, "latest", got, f.versions[2].want, approx.Abs, 1e-5)
	}

	// A corrupt version 3: files complete by name, garbage inside.
	bad := filepath.Join(f.base, "3")
	for _, p := range []string{"saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"} {
		os.MkdirAll(filepath.Dir(filepath.Join(bad, p)), 0o755)
		if err := os.WriteFile(filepath.Join(bad, p), []byte("not a SavedModel"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "version 3 END with its error", func() bool {
		v := statusOf(t, url)[3]
		return v.GetState() == apis.ModelVersionStatus_END && v.GetStatus().GetErrorCode() == 2 && v.GetStatus().GetErrorMessage() != ""
	})
	if code, _ := predictVersion(t, url, 2, f.files); code != 200 {
		t.Errorf("version 2 after 3 failed: %d", code)
	}

	// Version 2 deleted: unloaded, END OK; version 1 serves what is asked without a version.
	if err := os.RemoveAll(filepath.Join(f.base, "2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "version 2 END", func() bool {
		v := statusOf(t, url)[2]
		return v.GetState() == apis.ModelVersionStatus_END && v.GetStatus().GetErrorCode() == 0
	})
	if code, _ := predictVersion(t, url, 2, f.files); code != 404 {
		t.Errorf("deleted version 2: %d, want 404", code)
	}
	if code, got := predictVersion(t, url, 0, f.files); code != 200 {
		t.Errorf("latest after 2 was deleted: %d", code)
	} else {
		approx.WithinRows(t, "latest after 2 was deleted", got, f.versions[1].want, approx.Abs, 1e-5)
	}

	// Every version deleted: unloaded, said in the log, not ready, 404.
	os.RemoveAll(filepath.Join(f.base, "1"))
	os.RemoveAll(bad)
	waitFor(t, "version 1 END", func() bool { return statusOf(t, url)[1].GetState() == apis.ModelVersionStatus_END })
	if code, b := predictVersion(t, url, 0, f.files); code != 404 {
		t.Errorf("no version on disk: %d %v, want 404", code, b)
	}
	if code, b := do(t, "GET", hs.URL+"/readyz", "", nil, nil); code != 503 || !strings.Contains(string(b), "no version") {
		t.Errorf("/readyz with no version: %d %s", code, b)
	}
	for _, want := range []string{"gone from disk", "no version of the model left"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	f.export(t, 4, filepath.Join(f.base, "4"))
	waitFor(t, "version 4 AVAILABLE", func() bool { return statusOf(t, url)[4].GetState() == apis.ModelVersionStatus_AVAILABLE })
	if code, got := predictVersion(t, url, 0, f.files); code == 200 {
		approx.WithinRows(t, "version 4", got, f.versions[4].want, approx.Abs, 1e-5)
	} else {
		t.Errorf("version 4: %d", code)
	}
}

// TestModelConfigFile: TensorFlow Serving's model_config_list serves a two-class model
// (latest 2 of its versions) and a three-class one (specific version 1 of 1 and 2) from
// one server, each answering its live graph's probabilities (bad files: versions.TestReadModelConfigRefuses).
func TestModelConfigFile(t *testing.T) {
	f := newFixture(t, 1, 2)
	threeBase := filepath.Join(t.TempDir(), "three")
	var threeWant [][]float32
	for n := 1; n <= 2; n++ {
		m, sess := savedmodelstest.TinyModelClasses(t, size, int64(200+n), 3)
		if err := export.SavedModel(filepath.Join(threeBase, strconv.Itoa(n)), sess, m, savedmodels.Metadata{Classes: labels.Subtypes().Names()}); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			var flat []float32
			for _, p := range f.pixels {
				flat = append(flat, p...)
			}
			x, _ := tf.NewTensor(flat)
			x.Reshape([]int64{int64(len(f.pixels)), size, size, 3})
			out, err := sess.Run(map[tf.Output]*tf.Tensor{m.Input: x}, []tf.Output{m.Probs}, nil)
			if err != nil {
				t.Fatal(err)
			}
			threeWant = out[0].Value().([][]float32)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "models.config")
	text := `model_config_list {
  config { name: "two" base_path: "` + f.base + `" model_platform: "tensorflow"
           model_version_policy { latest { num_versions: 2 } } }
  config { name: "three" base_path: "` + threeBase + `"
           model_version_policy { specific { versions: 1 } } }
}`
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	models, err := versions.ReadModelConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	_, hs := f.start(t, Config{Models: models})
	for _, n := range []int{1, 2} {
		code, got := predictVersion(t, hs.URL+"/v1/models/two", n, f.files)
		if code != 200 {
			t.Fatalf("two, version %d: %d", n, code)
		}
		approx.WithinRows(t, "two v"+strconv.Itoa(n), got, f.versions[n].want, approx.Abs, 1e-5)
	}
	code, got := predictVersion(t, hs.URL+"/v1/models/three", 0, f.files)
	if code != 200 || len(got) != len(f.files) || len(got[0]) != 3 {
		t.Fatalf("three: %d %v", code, got)
	}
	approx.WithinRows(t, "three", got, threeWant, approx.Abs, 1e-5)
	if st := statusOf(t, hs.URL+"/v1/models/three"); len(st) != 1 || st[1].GetState() != apis.ModelVersionStatus_AVAILABLE {
		t.Errorf("three's status %v, want version 1 only (specific), AVAILABLE", st)
	}
	if code, _ := predictVersion(t, hs.URL+"/v1/models/three", 2, f.files); code != 404 {
		t.Errorf("three version 2 (not in the policy): %d, want 404", code)
	}
	if code, _ := predictVersion(t, hs.URL+"/v1/models/xray", 0, f.files); code != 404 {
		t.Errorf("a model not in the config: %d, want 404", code)
	}

}
