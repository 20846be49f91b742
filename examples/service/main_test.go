package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/serve"
)

func TestService(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 1)
	dir := filepath.Join(t.TempDir(), "xray", "1")
	if err := export.SavedModel(dir, sess, m, savedmodels.Metadata{RunID: "service-test"}); err != nil {
		t.Fatal(err)
	}
	model, err := serve.New(serve.Config{ModelDir: filepath.Dir(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	srv := httptest.NewServer(newHandler(model))
	defer srv.Close()

	xray, err := os.ReadFile("../../testdata/chest_xray/test/NORMAL/IM-0226-0001.jpeg")
	if err != nil {
		t.Fatal(err)
	}
	// The service must answer what the library answers for the same file.
	lib, err := savedmodels.Load(dir, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	want, err := lib.PredictBytes(context.Background(), xray)
	if err != nil || want[0].Err != nil {
		t.Fatal(err, want)
	}
	resp, err := http.Post(srv.URL+"/v1/classify", "image/jpeg", bytes.NewReader(xray))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Class         string             `json:"class"`
		Probabilities map[string]float32 `json:"probabilities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("classify: status %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if got.Class != want[0].Label || got.Probabilities["normal"] != want[0].Probabilities[0] || got.Probabilities["pneumonia"] != want[0].Probabilities[1] {
		t.Errorf("service answered %+v, the library %+v", got, want[0])
	}

	resp, err = http.Get(srv.URL + "/service/version")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "model version 1") {
		t.Errorf("own route: %q", b)
	}
}
