package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
)

func TestService(t *testing.T) {
	m, sess := savedmodelstest.TinyModel(t, 32, 1)
	dir := filepath.Join(t.TempDir(), "savedmodel")
	if err := savedmodels.Export(dir, sess, m, savedmodels.Metadata{RunID: "service-test"}); err != nil {
		t.Fatal(err)
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{})
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
	want, err := model.PredictBytes(context.Background(), xray)
	if err != nil || want[0].Err != nil {
		t.Fatal(err, want)
	}
	resp, err := http.Post(srv.URL+"/v1/predict", "image/jpeg", bytes.NewReader(xray))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Class         string     `json:"class"`
		ClassID       int        `json:"class_id"`
		Probabilities [2]float32 `json:"probabilities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("predict: status %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if got.Class != want[0].Label || got.ClassID != want[0].Class || got.Probabilities != want[0].Probabilities {
		t.Errorf("service answered %+v, the library %+v", got, want[0])
	}

	resp, err = http.Post(srv.URL+"/v1/predict", "image/jpeg", bytes.NewReader([]byte("not an image")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad image: status %d, want 422", resp.StatusCode)
	}

	resp, err = http.Get(srv.URL + "/v1/metadata")
	if err != nil {
		t.Fatal(err)
	}
	var meta savedmodels.Metadata
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || meta.RunID != "service-test" || meta.InputSize != 32 {
		t.Errorf("metadata: %+v %v", meta, err)
	}
	resp.Body.Close()
}
