package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/savedmodels"
)

func init() {
	register(&cli.Command{
		Name:  "explain",
		Usage: "show where the model looked: Grad-CAM heatmaps over chest X-rays",
		UsageText: "xray explain --savedmodel DIR [--out DIR] [--alpha 0.4] [--class NAME] [--layer NAME] [--method margin|gradcam|occlusion [--patch 32 --stride 16]] IMAGE...\n\n" +
			"For each image, writes OUT/<name>.<method>.png (the X-ray as the model saw it, in gray,\n" +
			"with the heatmap of the predicted class, or of --class, in a perceptual\n" +
			"colormap; a colorbar; the class and probability in the title) and prints one JSON line:\n" +
			"{\"file\", \"class\", \"class_id\", \"probability\", \"explained\", \"explained_probability\",\n" +
			"\"peak\": {\"x\", \"y\", \"value\"} (in the model's input pixels), \"peak_original\": {\"x\", \"y\"}\n" +
			"(in the file's pixels), \"method\", \"empty\" (why the map is zero everywhere, when it is),\n" +
			"\"overlay\"} or {\"file\", \"error\"}. Images that fail do not stop the others; the exit\n" +
			"status is then 1; an empty map is also said on stderr. The default method, margin, is\n" +
			"Grad-CAM of the explained class's logit minus the runner-up's (what the decision is made\n" +
			"of) on the stride-16 feature map (MobileNet conv_pw_11_relu, 8 x 8 at 128 px), what\n" +
			"serving_gradcam computes in models exported since; gradcam is plain Grad-CAM of the class's\n" +
			"logit on the last feature map (4 x 4 at 128 px), empty for most pneumonia predictions of a\n" +
			"two-class model (docs/explain.md). --layer NAME explains another Keras layer with a feature\n" +
			"map. With --method\n" +
			"occlusion it is instead the drop of the class's probability when a --patch square of the\n" +
			"input (moved by --stride) is replaced by the image's mean, scaled to [0, 1] (\"max_drop\"\n" +
			"gives the scale), run through serving_default in batches: OUT/<name>.occlusion.png.\n\n" +
			"Examples:\n" +
			"   xray explain --savedmodel runs/mobilenet/savedmodel --out heatmaps chest_xray/test/PNEUMONIA/*.jpeg\n" +
			"   xray explain --savedmodel runs/mobilenet/savedmodel --class normal scan.png | jq .peak\n" +
			"   xray explain --savedmodel runs/mobilenet/savedmodel --method gradcam scan.png\n" +
			"   xray explain --savedmodel runs/mobilenet/savedmodel --method occlusion --patch 32 --stride 16 scan.png",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR` (the directory holding saved_model.pb)", EnvVars: []string{"XRAY_SAVEDMODEL"}},
			&cli.StringFlag{Name: "out", Value: "explanations", Usage: "`DIR` for the overlay PNGs", EnvVars: []string{"XRAY_OUT"}},
			&cli.Float64Flag{Name: "alpha", Value: explain.DefaultAlpha, Usage: "heatmap opacity over the X-ray, 0 to 1", EnvVars: []string{"XRAY_ALPHA"}},
			&cli.StringFlag{Name: "class", Usage: "explain the class `NAME` (one of the model's classes) instead of the predicted one", EnvVars: []string{"XRAY_CLASS"}},
			&cli.StringFlag{Name: "layer", Usage: "Grad-CAM of the Keras layer `NAME` (a feature map, e.g. conv_pw_11_relu) instead of the last convolutional one", EnvVars: []string{"XRAY_LAYER"}},
			&cli.StringFlag{Name: "method", Value: explain.MethodMargin, Usage: "`METHOD`: margin (Grad-CAM of the logit margin over the runner-up), gradcam (plain Grad-CAM of the logit) or occlusion (probability drop under a moving patch)", EnvVars: []string{"XRAY_METHOD"}},
			&cli.IntFlag{Name: "patch", Value: 32, Usage: "occlusion patch side in input pixels (`N`)", EnvVars: []string{"XRAY_PATCH"}},
			&cli.IntFlag{Name: "stride", Value: 16, Usage: "occlusion patch step in input pixels (`N`)", EnvVars: []string{"XRAY_STRIDE"}},
			&cli.IntFlag{Name: "batch", Value: savedmodels.DefaultMaxBatch, Usage: "images per session run (`N`)", EnvVars: []string{"XRAY_BATCH"}},
			modelWindowFlag(),
		},
		Action: explainAction,
	})
}

func explainAction(c *cli.Context) error {
	dir := c.String("savedmodel")
	if dir == "" {
		return usagef("explain needs --savedmodel DIR")
	}
	if c.NArg() == 0 {
		return usagef("explain needs at least one IMAGE")
	}
	if a := c.Float64("alpha"); !(a >= 0 && a <= 1) {
		return usagef("--alpha %v: give a value from 0 to 1", a)
	}
	if m := c.String("method"); !slices.Contains(explain.Methods, m) {
		return usagef("--method %q: use %s", m, strings.Join(explain.Methods, ", "))
	}
	if c.String("layer") != "" && c.String("method") == explain.MethodOcclusion {
		return usagef("--layer applies to --method %s and %s only", explain.MethodMargin, explain.MethodGradCAM)
	}
	if c.Int("patch") < 1 || c.Int("stride") < 1 {
		return usagef("--patch %d --stride %d: give 1 or more", c.Int("patch"), c.Int("stride"))
	}
	if c.Int("batch") < 1 {
		return usagef("--batch %d: give 1 or more", c.Int("batch"))
	}
	window, err := modelWindow(c)
	if err != nil {
		return err
	}
	model, err := savedmodels.Load(dir, savedmodels.Options{MaxBatch: c.Int("batch"), DICOMWindow: window})
	if err != nil {
		return err
	}
	defer model.Close()
	logDevice(c.App.ErrWriter, "explaining")
	enc := json.NewEncoder(c.App.Writer)
	failed, n := 0, 0
	opts := explain.Options{OutDir: c.String("out"), Alpha: c.Float64("alpha"), Class: c.String("class"), Layer: c.String("layer"), Batch: c.Int("batch"),
		Method: c.String("method"), Patch: c.Int("patch"), Stride: c.Int("stride")}
	err = explain.Files(c.Context, model, c.Args().Slice(), opts, func(rs []explain.Result) error {
		for _, r := range rs {
			n++
			if r.Err != nil {
				failed++
			} else if r.Empty != "" {
				fmt.Fprintf(c.App.ErrWriter, "xray: %s: empty %s map: %s\n", r.File, r.Method, r.Empty)
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be explained (see their error lines)", failed, n)
	}
	return nil
}
