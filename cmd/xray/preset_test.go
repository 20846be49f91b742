package main

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/internal/approx"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/trainer"
)

// trainFlags runs xray train's flags through applyPreset and augmentFromFlags and returns
// the resulting flag values.
func trainFlags(t *testing.T, env map[string]string, args ...string) (map[string]string, loader.Augment, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var train *cli.Command
	for _, c := range commands {
		if c.Name == "train" {
			train = c
		}
	}
	got := map[string]string{}
	var aug loader.Augment
	app := &cli.App{Name: "xray", Commands: []*cli.Command{{Name: "train", Flags: train.Flags, Action: func(c *cli.Context) error {
		if err := applyPreset(c); err != nil {
			return err
		}
		for _, f := range []string{"batch-size", "lr", "momentum", "epochs", "augment", "arch", "class-weight", "lr-schedule", "monitor"} {
			got[f] = fmt.Sprint(c.Value(f))
		}
		var err error
		aug, err = augmentFromFlags(c)
		return err
	}}}}
	err := app.Run(append([]string{"xray", "train"}, args...))
	return got, aug, err
}

func TestPresets(t *testing.T) {
	// paper changes nothing: the defaults are the paper's.
	got, aug, err := trainFlags(t, nil)
	if err != nil || got["lr"] != "0.001" || got["batch-size"] != "20" || got["epochs"] != "100" || got["augment"] != "false" || aug.On() ||
		got["class-weight"] != "none" || got["lr-schedule"] != "constant" || got["monitor"] != "val_loss" {
		t.Errorf("default (paper): %v %+v %v", got, aug, err)
	}
	// robust sets its values; a flag given on the command line or in XRAY_<FLAG> wins.
	got, aug, err = trainFlags(t, map[string]string{"XRAY_EPOCHS": "3"}, "--preset", "robust", "--lr", "0.05")
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"lr": "0.05", "epochs": "3", "batch-size": "16", "momentum": "0.9", "augment": "true",
		"arch": "mobilenet", "class-weight": "balanced", "lr-schedule": "cosine", "monitor": "val_auc"} {
		if got[f] != want {
			t.Errorf("--preset robust --lr 0.05, XRAY_EPOCHS=3: %s = %s, want %s", f, got[f], want)
		}
	}
	if want := (loader.Augment{Rotation: 10, Translate: 0.1, Zoom: 0.1, Brightness: 0.05, Contrast: 0.1}); aug != want {
		t.Errorf("robust augmentation %+v, want %+v", aug, want)
	}
	if want := trainer.Robust().Augment; aug != want {
		t.Errorf("--preset robust: augmentation %+v, the library's Robust() %+v", aug, want)
	}
	if _, aug, _ = trainFlags(t, nil, "--preset", "robust", "--augment-brightness", "0.2"); aug.Brightness != 0.2 || aug.Contrast != 0.1 {
		t.Errorf("--preset robust --augment-brightness 0.2: %+v", aug)
	}
	if _, aug, _ = trainFlags(t, nil, "--preset", "robust", "--augment=false"); aug.On() {
		t.Error("--preset robust --augment=false still augments")
	}
	if _, aug, _ = trainFlags(t, nil, "--augment", "--augment-rotation", "5"); aug.Rotation != 5 || aug.Zoom != 0.1 {
		t.Errorf("--augment --augment-rotation 5: %+v", aug)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "fast"}, `--preset "fast": use paper or robust`},
		{[]string{"--augment-zoom", "0.3"}, "--augment-zoom applies with --augment"},
		{[]string{"--augment", "--augment-zoom", "1"}, "--augment-zoom 1: use 0 to 1"},
		{[]string{"--augment", "--augment-rotation", "-5"}, "--augment-rotation -5: use 0 to 180 degrees"},
	} {
		if _, _, err := trainFlags(t, nil, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// TestDatasetPreview: the sheet has one row per image and 1 + draws columns; the first
// column is the preprocessed image itself, the others differ from it.
func TestDatasetPreview(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grid.png")
	data := filepath.Join("..", "..", "testdata", "chest_xray")
	code, stdout, stderr := runCLI(t, "dataset", "preview", "--data", data, "--augment", "--images", "2", "--draws", "3", "--input-size", "48", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "2 images x (1 + 3 draws) at 48 px") {
		t.Errorf("output: %s", stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 4*50-2 || b.Dy() != 2*50-2 {
		t.Fatalf("sheet %v, want %d x %d", b, 4*50-2, 2*50-2)
	}
	in, err := dataset.Ingest(data, dataset.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := in.Entries[dataset.EpochOrder(len(in.Entries), 42, 0)[0]]
	p := preprocess.Preprocessor{Size: 48, Scaling: preprocess.Unit}
	want, err := p.File(filepath.Join(in.Root, first.Path))
	if err != nil {
		t.Fatal(err)
	}
	// The sheet's first column is the image as preprocessed (within rounding to a level), the
	// next one a draw that must visibly differ.
	var want0, plain, augmented []float64
	for y := range 48 {
		for x := range 48 {
			want0 = append(want0, float64(want[(y*48+x)*3])*255)
			r, _, _, _ := img.At(x, y).RGBA()
			plain = append(plain, float64(r>>8))
			r, _, _, _ = img.At(50+x, y).RGBA()
			augmented = append(augmented, float64(r>>8))
		}
	}
	approx.Within(t, "preview's first column vs the preprocessed "+first.Path, plain, want0, approx.Abs, 0.5)
	if d := approx.Max(t, "preview's first draw vs the preprocessed image", augmented, want0, approx.Abs); !(d.Max >= 10) {
		t.Errorf("the first draw differs from the preprocessed %s by at most %v levels, want a visible change (>= 10)", first.Path, d.Max)
	}
	if code, _, stderr := runCLI(t, "dataset", "preview", "--out", out); code != exitUsage || !strings.Contains(stderr, "give --data DIR or --manifest FILE") {
		t.Errorf("no data: exit %d %s", code, stderr)
	}
}
