package predictstream

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraylab/xray/savedmodels"
)

func TestOutputResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "preds.jsonl")
	o, err := OpenOutput(path, false)
	if err != nil {
		t.Fatal(err)
	}
	good := Line{File: "a.jpeg", Prediction: savedmodels.Prediction{Class: 1, Label: "pneumonia", Probabilities: []float32{0.25, 0.75}, Decision: 1}}
	bad := Line{File: "b.jpeg", Prediction: savedmodels.Prediction{Err: errors.New("b.jpeg: not an image")}}
	if err := o.Write([]Line{good, bad}); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"file":"a.jpeg","class":"pneumonia","class_id":1,"probability":0.75,"probabilities":[0.25,0.75],"decision_id":1}` + "\n" +
		`{"file":"b.jpeg","error":"not an image"}` + "\n"
	b, _ := os.ReadFile(path)
	if string(b) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", b, want)
	}

	if _, err := OpenOutput(path, false); !errors.Is(err, ErrExists) {
		t.Errorf("reopening without resume: %v, want ErrExists", err)
	}

	// A kill in the middle of a write leaves a torn last line: resume drops it.
	torn := `{"file":"c.jpeg","class":"norm`
	if err := os.WriteFile(path, []byte(want+torn), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err = OpenOutput(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Done("a.jpeg") || !o.Done("b.jpeg") || o.Done("c.jpeg") || o.Resumed() != 2 {
		t.Errorf("resumed: a %v b %v c %v, %d files; want a and b done, c not", o.Done("a.jpeg"), o.Done("b.jpeg"), o.Done("c.jpeg"), o.Resumed())
	}
	if n, failed := o.Counts(); n != 2 || failed != 1 {
		t.Errorf("Counts = %d, %d; want 2 lines, 1 error", n, failed)
	}
	c := Line{File: "c.jpeg", Prediction: savedmodels.Prediction{Label: "normal", Probabilities: []float32{0.5, 0.5}}}
	if err := o.Write([]Line{c}); err != nil {
		t.Fatal(err)
	}
	o.Close()
	b, _ = os.ReadFile(path)
	wantC := `{"file":"c.jpeg","class":"normal","class_id":0,"probability":0.5,"probabilities":[0.5,0.5],"decision_id":0}` + "\n"
	if string(b) != want+wantC {
		t.Errorf("after resume:\n%s\nwant:\n%s", b, want+wantC)
	}

	if err := os.WriteFile(path, []byte("file,class\na.jpeg,normal\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutput(path, true); err == nil || !strings.Contains(err.Error(), "line 1 is not a prediction line") {
		t.Errorf("resuming a CSV: %v", err)
	}
}
