package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/evaluator"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/preprocess/dicom"
)

// TestPredictDICOM: xray predict reads DICOM, --json gives the SOPInstanceUID and
// ViewPosition but nothing of the patient (the test files carry a PatientName and
// PatientID), a lateral view and a multi-frame file get warnings, a damaged DICOM its own
// error line, a 16-bit file without a window a warning and a count under auto, and
// --dicom-window is read and checked.
func TestPredictDICOM(t *testing.T) {
	dir, _, _ := predictFixture(t)
	src := filepath.Join("..", "..", "testdata", "dicom")
	pa, err := os.ReadFile(filepath.Join(src, "mono2_8bit.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	// The same image as a lateral view: ViewPosition "PA" (CS, 2 bytes) -> "LATERAL ".
	old := []byte{0x18, 0x00, 0x01, 0x51, 'C', 'S', 2, 0, 'P', 'A'}
	if !bytes.Contains(pa, old) {
		t.Fatal("mono2_8bit.dcm: no ViewPosition PA")
	}
	lateral := filepath.Join(t.TempDir(), "lateral.dcm")
	if err := os.WriteFile(lateral, bytes.Replace(pa, old, []byte{0x18, 0x00, 0x01, 0x51, 'C', 'S', 8, 0, 'L', 'A', 'T', 'E', 'R', 'A', 'L', ' '}, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), "damaged.dcm")
	if err := os.WriteFile(damaged, pa[:len(pa)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(src, "mono2_8bit.dcm"), filepath.Join(src, "multiframe.dcm"), lateral, filepath.Join(src, "source.jpeg"), damaged}
	code, stdout, stderr := runCLI(t, append([]string{"predict", "--savedmodel", dir, "--json"}, files...)...)
	if code != exitFailure || !strings.Contains(stderr, "1 of 5 images could not be predicted") {
		t.Errorf("exit %d, stderr %q; want 1 (the damaged file)", code, stderr)
	}
	for _, w := range []string{
		"xray: warning: " + files[1] + ": 3 frames: only the first is used",
		"xray: warning: " + lateral + ": view position LATERAL: the model was trained on frontal (PA/AP) chest X-rays",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	for _, secret := range []string{"Test^Patient", "TEST-0001", "Patient"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("output shows %q:\n%s%s", secret, stdout, stderr)
		}
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	for i, f := range files {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("--json object %d: %v\n%s", i, err, stdout)
		}
		b, _ := os.ReadFile(f)
		info, infoErr := dicom.ReadInfo(b)
		switch {
		case f == damaged:
			if !strings.Contains(r["error"].(string), "damaged DICOM file") {
				t.Errorf("%s: %v, want a damaged DICOM error", f, r)
			}
		case infoErr != nil: // the JPEG
			if _, ok := r["sop_instance_uid"]; ok || r["class"] == nil {
				t.Errorf("%s: %v, want a prediction without DICOM fields", f, r)
			}
		case r["sop_instance_uid"] != info.SOPInstanceUID || r["view_position"] != info.ViewPosition || info.SOPInstanceUID == "" || r["class"] == nil:
			t.Errorf("%s: %v; want sop_instance_uid %s, view_position %s", f, r, info.SOPInstanceUID, info.ViewPosition)
		}
	}

	// A 16-bit file without a window: one warning under auto, counted in the summary; none
	// with a window chosen.
	noWin := filepath.Join(src, "big_endian.dcm")
	_, _, stderr = runCLI(t, "predict", "--savedmodel", dir, noWin, files[0])
	if !strings.Contains(stderr, "xray: warning: "+noWin+": no window") || strings.Count(stderr, "no window") != 1 ||
		!strings.Contains(stderr, "xray: 2 files: 1 DICOM files without a window of their own") {
		t.Errorf("a file without a window under auto: stderr %q; want one warning and the count", stderr)
	}
	if _, _, stderr = runCLI(t, "predict", "--savedmodel", dir, "--dicom-window", "minmax", noWin); strings.Contains(stderr, "window") {
		t.Errorf("--dicom-window minmax: stderr %q; want no window warning", stderr)
	}

	code, _, stderr = runCLI(t, "predict", "--savedmodel", dir, "--dicom-window", "40", files[0])
	if code != exitUsage || !strings.Contains(stderr, "--dicom-window") {
		t.Errorf("--dicom-window 40: exit %d, %q; want a usage error", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "predict", "--savedmodel", dir, "--dicom-window", "5000,100", files[0])
	if code != exitOK || !strings.HasPrefix(stdout, files[0]+"\t") {
		t.Errorf("--dicom-window 5000,100: exit %d, %q %q", code, stdout, stderr)
	}
}

// TestEvaluateDICOM: xray evaluate --split all runs over a folder of DICOM files with
// --dicom-window, and each row holds the probabilities xray predict gives that file with
// the same window.
func TestEvaluateDICOM(t *testing.T) {
	sm, _, _ := predictFixture(t)
	data := t.TempDir()
	src, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "dicom", "*.dcm"))
	if len(src) < 8 {
		t.Fatalf("testdata/dicom: %d files", len(src))
	}
	for i, f := range src {
		b, _ := os.ReadFile(f)
		dst := filepath.Join(data, []string{"NORMAL", "PNEUMONIA"}[i%2], filepath.Base(f))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "eval")
	code, _, stderr := runCLI(t, "evaluate", "--savedmodel", sm, "--data", data, "--split", "all", "--dicom-window", "minmax", "--out", out)
	if code != exitOK {
		t.Fatalf("evaluate: exit %d: %s", code, stderr)
	}
	recs, err := evaluator.ReadPredictionsCSV(filepath.Join(out, evaluator.PredictionsFile))
	if err != nil || len(recs) != len(src) {
		t.Fatalf("predictions.csv: %d rows for %d files, %v", len(recs), len(src), err)
	}
	for _, r := range recs {
		code, stdout, stderr := runCLI(t, "predict", "--savedmodel", sm, "--json", "--dicom-window", "minmax", filepath.Join(data, r.Path))
		var p struct{ Probabilities [2]float64 }
		if code != exitOK || json.Unmarshal([]byte(stdout), &p) != nil {
			t.Fatalf("predict %s: exit %d %s", r.Path, code, stderr)
		}
		approx.Within(t, r.Path, r.Probs[:], p.Probabilities[:], approx.Abs, 1e-6)
	}
}

// TestExplainDICOM: xray explain draws a DICOM file's overlay, decoded with --dicom-window,
// and explains the probability xray predict gives it with the same window.
func TestExplainDICOM(t *testing.T) {
	dir, _, _ := predictFixture(t)
	file := filepath.Join("..", "..", "testdata", "dicom", "mono1_window.dcm")
	for _, w := range []string{"auto", "minmax"} {
		out := t.TempDir()
		code, stdout, stderr := runCLI(t, "explain", "--savedmodel", dir, "--out", out, "--dicom-window", w, file)
		var e struct {
			Figure               string  `json:"overlay"`
			ExplainedProbability float64 `json:"explained_probability"`
			Explained            string  `json:"explained"`
		}
		if code != exitOK || json.Unmarshal([]byte(stdout), &e) != nil {
			t.Fatalf("explain --dicom-window %s: exit %d: %s %s", w, code, stdout, stderr)
		}
		if _, err := os.Stat(e.Figure); err != nil {
			t.Errorf("--dicom-window %s: figure: %v", w, err)
		}
		code, stdout, stderr = runCLI(t, "predict", "--savedmodel", dir, "--json", "--dicom-window", w, file)
		var p struct {
			Class         string
			Probabilities [2]float64
		}
		if code != exitOK || json.Unmarshal([]byte(stdout), &p) != nil {
			t.Fatalf("predict --dicom-window %s: exit %d: %s", w, code, stderr)
		}
		want := p.Probabilities[0]
		if e.Explained == "pneumonia" {
			want = p.Probabilities[1]
		}
		approx.Within(t, "explained probability vs predict, --dicom-window "+w, []float64{e.ExplainedProbability}, []float64{want}, approx.Abs, 1e-6)
	}
}
