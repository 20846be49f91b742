package tensorboard

import (
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
)

// TestReadBackByTensorBoard writes scalars into two runs (one written by two writers, as
// a resumed training run does) and reads them back with the Python tensorboard package:
// every record's CRCs must check and every scalar must be at its step.
func TestReadBackByTensorBoard(t *testing.T) {
	pyref.Require(t)
	dir := t.TempDir()
	want := map[string]map[string][][2]float64{"train": {}, "validation": {}}
	write := func(run string, steps []int64) {
		w, err := NewWriter(filepath.Join(dir, run))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			for _, tag := range []string{"batch_loss", "batch_learning_rate"} {
				v := math.Sin(float64(s)) + float64(len(tag)) // distinct per tag and step
				if err := w.Scalar(tag, s, v); err != nil {
					t.Fatal(err)
				}
				want[run][tag] = append(want[run][tag], [2]float64{float64(s), v})
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Scalar("late", 1, 1); !errors.Is(err, ErrClosed) {
			t.Errorf("write after Close: %v, want ErrClosed", err)
		}
	}
	write("train", []int64{1, 2, 3})
	write("train", []int64{4, 5}) // a second file in the same run, as after --resume
	write("validation", []int64{1, 2})

	var got map[string]json.RawMessage
	if err := json.Unmarshal(pyref.Run(t, pyref.Script("tensorboard_read.py"), dir), &got); err != nil {
		t.Fatal(err)
	}
	var records int
	json.Unmarshal(got["_records"], &records)
	if records != 3+5*2+2*2 { // a file-version event per file plus one per scalar
		t.Errorf("tensorboard read %d records, want %d", records, 3+5*2+2*2)
	}
	for run, tags := range want {
		var scalars map[string][][2]float64
		if err := json.Unmarshal(got[run], &scalars); err != nil {
			t.Fatalf("run %s: %v (read: %s)", run, err, got[run])
		}
		if len(scalars) != len(tags) {
			t.Errorf("run %s: tags %v, want %d tags", run, scalars, len(tags))
		}
		for tag, points := range tags {
			g := scalars[tag]
			if len(g) != len(points) {
				t.Errorf("%s/%s: %d points, want %d", run, tag, len(g), len(points))
				continue
			}
			for i, p := range points {
				v := float64(float32(p[1])) // simple_value is a float32
				if g[i][0] != p[0] || g[i][1] != v || math.IsNaN(g[i][1]) {
					t.Errorf("%s/%s point %d: step %v value %v, want step %v value %v", run, tag, i, g[i][0], g[i][1], p[0], v)
				}
			}
		}
	}
}
