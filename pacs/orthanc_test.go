package pacs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/orthanctest"
	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/pacs/dicomweb"
)

// TestSeriesAndBatchStoreInOrthanc: against a real Orthanc, RetrieveSeries hands over
// each instance of a series byte for byte as uploaded, in one request, and a STOW of
// SRs of two studies to the PACS as a whole (study "") stores each in its own study.
func TestSeriesAndBatchStoreInOrthanc(t *testing.T) {
	imgs, _ := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "train", "*", "*.jpeg"))
	if len(imgs) < 4 {
		t.Fatalf("%d X-rays under testdata/chest_xray/train, want 4", len(imgs))
	}
	dir := t.TempDir()
	pyref.Run(t, pyref.Script("pacs_make.py"), append([]string{dir, "--per-study", "2"}, imgs[:4]...)...)
	var index struct {
		Instances []struct{ File, Study, Series, SOP string }
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &index)
	}
	if err != nil || len(index.Instances) != 4 {
		t.Fatalf("pacs_make.py index: %v (%d instances)", err, len(index.Instances))
	}
	o := orthanctest.Start(t)
	uploaded := map[string][]byte{} // SOP Instance UID -> file
	for _, in := range index.Instances {
		o.Upload(t, in.File)
		uploaded[in.SOP], _ = os.ReadFile(in.File)
	}
	c, err := dicomweb.NewClient(o.DICOMweb(), dicomweb.Options{User: orthanctest.User, Password: orthanctest.Password, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := index.Instances[0]
	var got []source
	err = c.RetrieveSeries(ctx, first.Study, first.Series, func(b []byte) error {
		src, err := readSource(b)
		if err != nil {
			t.Fatalf("a part of the series is not DICOM: %v", err)
		}
		if !bytes.Equal(b, uploaded[src.SOPInstanceUID]) {
			t.Errorf("instance %s: %d bytes differ from the %d uploaded", src.SOPInstanceUID, len(b), len(uploaded[src.SOPInstanceUID]))
		}
		got = append(got, src)
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("RetrieveSeries: %v, %d instances, want the series' 2", err, len(got))
	}
	// One SR for an image of each study, in one STOW request to the PACS.
	var srs [][]byte
	want := map[string]string{} // study -> SR UID
	for _, src := range []source{got[0], mustSource(t, uploaded[index.Instances[2].SOP])} {
		in := dicomweb.Instance{Study: src.StudyInstanceUID, Series: src.SeriesInstanceUID, SOP: src.SOPInstanceUID}
		u := uidsFor(in, "digest")
		sr, err := buildSR(src, ModelInfo{Name: "m", Digest: "digest"}, Outcome{Classes: []string{"NORMAL", "PNEUMONIA"}, Probabilities: []float32{0.25, 0.75}, Decision: 1}, u.srSeries, u.sr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		srs, want[in.Study] = append(srs, sr), u.sr
	}
	if err := c.Store(ctx, "", srs...); err != nil {
		t.Fatalf("STOW of 2 SRs of 2 studies: %v", err)
	}
	for study, sr := range want {
		all, err := c.Instances(ctx, study)
		found := false
		for _, in := range all {
			found = found || in.SOP == sr
		}
		if err != nil || !found || len(all) != 3 {
			t.Errorf("study %s after the STOW: %d instances, SR %s found %v (%v); want its 2 images and the SR", study, len(all), sr, found, err)
		}
	}
}

func mustSource(t *testing.T, b []byte) source {
	t.Helper()
	src, err := readSource(b)
	if err != nil {
		t.Fatal(err)
	}
	return src
}
