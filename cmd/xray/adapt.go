package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/predictstream"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/adapt"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

func init() {
	register(&cli.Command{
		Name:  "adapt",
		Usage: "re-estimate a SavedModel's BatchNormalization statistics from a site's unlabeled X-rays (AdaBN)",
		UsageText: "xray adapt --savedmodel DIR (--data TREE [--manifest FILE --split NAME] | --input DIR|GLOB|LIST.txt) --out DIR [flags]\n\n" +
			"Writes to --out (which must not exist) a copy of the SavedModel whose BatchNormalization moving\n" +
			"means and variances are measured on the given images: population statistics over images and\n" +
			"positions, in float64, streaming. Labels play no part: --data takes every image under the tree,\n" +
			"or with --manifest and --split one split of it. --mode layerwise (default) measures each layer with\n" +
			"the layers before it already replaced (one pass per level of layers); --mode batch is one pass with\n" +
			"every layer normalised by its batch's statistics. Every other weight, the signatures and the\n" +
			"preprocessing are copied unchanged; the metadata records the adaptation (source digest, image\n" +
			"count and digest, DICOM window, date). At least 32 images; an unreadable file fails the run (all\n" +
			"are listed). The output appears only once complete (docs/adapt.md).\n\n" +
			"Examples:\n" +
			"   xray adapt --savedmodel runs/mobilenet/savedmodel --input site-archive/ --out models/pneumonia/2\n" +
			"   xray adapt --savedmodel runs/mobilenet/savedmodel --data external/ --out runs/mobilenet/adapted --mode batch\n" +
			"   xray adapt --savedmodel models/pneumonia/1 --input scans.txt --dicom-window 40,400 --threads 2 --out models/pneumonia/2\n" +
			"   xray adapt --savedmodel runs/m/savedmodel --input site-archive/ --devices GPU:1 --out runs/m/adapted",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR` to adapt", EnvVars: env("SAVEDMODEL")},
			&cli.StringFlag{Name: "data", Usage: "image tree `DIR` (labels ignored)", EnvVars: env("DATA")},
			&cli.StringFlag{Name: "manifest", Usage: "split manifest `FILE` for --split (with --data as its root)", EnvVars: env("MANIFEST")},
			&cli.StringFlag{Name: "split", Usage: "take only this `NAME`d split of --manifest (train, val, test)", EnvVars: env("SPLIT")},
			&cli.StringFlag{Name: "input", Usage: "the images of a `DIR`, GLOB or LIST.txt (one path per line; - for standard input)", EnvVars: env("INPUT")},
			&cli.StringFlag{Name: "out", Usage: "new SavedModel `DIR` (must not exist)", EnvVars: env("OUT")},
			&cli.StringFlag{Name: "mode", Value: adapt.Layerwise, Usage: "`MODE`: layerwise (each layer after the ones before it) or batch (one pass, batch statistics)", EnvVars: env("MODE")},
			&cli.IntFlag{Name: "batch", Value: savedmodels.DefaultMaxBatch, Usage: "images per session run (`N`); in batch mode, the batch whose statistics normalise it", EnvVars: env("BATCH")},
			&cli.IntFlag{Name: "threads", Usage: "TensorFlow intra-op and inter-op threads and image decoders (`N`; 0: one per core)", EnvVars: env("THREADS")},
			&cli.StringFlag{Name: "device", Value: devices.ChoiceAuto, Usage: "auto (GPU when TensorFlow sees one, else CPU), cpu, or gpu", EnvVars: env("DEVICE")},
			&cli.StringFlag{Name: "devices", Usage: "the one device to run on, as train's --devices spells it (`DEV`: GPU:1, CPU:0, or 1); adapt's passes are sequential, so more than one is an error", EnvVars: env("DEVICES")},
			modelWindowFlag(),
		},
		Action: adaptAction,
	})
}

func adaptAction(c *cli.Context) error {
	src, out := c.String("savedmodel"), c.String("out")
	switch {
	case src == "":
		return usagef("adapt needs --savedmodel DIR")
	case out == "":
		return usagef("adapt needs --out DIR (a new directory)")
	case c.NArg() > 0:
		return usagef("adapt takes no arguments (got %q): give the images with --input or --data", c.Args().First())
	}
	if c.Int("batch") < 1 {
		return usagef("--batch %d: give 1 or more", c.Int("batch"))
	}
	images, err := adaptSource(c)
	if err != nil {
		return err
	}
	window, err := modelWindow(c)
	if err != nil {
		return err
	}
	config, err := adaptSession(c)
	if err != nil {
		return err
	}
	ad, err := adapt.Run(c.Context, src, out, images, adapt.Options{
		Mode: c.String("mode"), BatchSize: c.Int("batch"), SessionConfig: config, Workers: c.Int("threads"),
		DICOMWindow: window, Progress: progressBar(c.App.ErrWriter),
	})
	var ue *adapt.UnreadableImagesError
	if errors.As(err, &ue) {
		for _, f := range ue.Failed {
			fmt.Fprintf(c.App.ErrWriter, "%s\terror\t%s\n", f.Path, oneLine(f.Err.Error()))
		}
	}
	if err != nil {
		return adaptError(err)
	}
	passes := "passes"
	if ad.Passes == 1 {
		passes = "pass"
	}
	fmt.Fprintf(c.App.Writer, "adapted %d BatchNormalization layers on %d images (%s, %d %s): %s\n", ad.Layers, ad.Images, ad.Mode, ad.Passes, passes, out)
	return nil
}

// adaptSession is the session configuration of --device, --devices and --threads, on
// one device; it says on stderr what the session sees.
func adaptSession(c *cli.Context) ([]byte, error) {
	device := c.String("device")
	cfg, err := devices.ConfigFor(device, c.Int("threads"))
	if err != nil {
		return nil, usagef("--device: %v", err)
	}
	if err := devices.OneDevice(cfg, c.String("devices"), device == devices.ChoiceCPU); err != nil {
		return nil, usagef("--devices %s: %v", c.String("devices"), err)
	}
	b, err := proto.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	devs, err := devices.Probe(b)
	switch {
	case err != nil && c.String("devices") != "":
		return nil, usagef("--devices %s: TensorFlow cannot make a session on it: %v", c.String("devices"), oneLine(err.Error()))
	case err != nil:
		return nil, err
	case device == devices.ChoiceGPU:
		if err := devices.RequireGPU(devs); err != nil {
			return nil, noGPUError(err)
		}
	case strings.Contains(strings.ToUpper(c.String("devices")), "GPU"):
		if err := devices.RequireGPU(devs); err != nil {
			return nil, usagef("--devices %s: %v; leave --devices out to adapt on the CPU", c.String("devices"), err)
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "xray: adapting on %s\n", devices.Line(devs))
	return b, nil
}

// adaptSource is the images --input or --data name.
func adaptSource(c *cli.Context) (predictstream.Source, error) {
	input, data := c.String("input"), c.String("data")
	switch {
	case input == "" && data == "":
		return nil, usagef("adapt needs the images: --input DIR|GLOB|LIST.txt or --data TREE")
	case input != "" && data != "":
		return nil, usagef("give --input or --data, not both")
	case (c.String("split") == "") != (c.String("manifest") == ""):
		return nil, usagef("--split and --manifest go together (one split of a manifest); without them --data takes every image")
	case c.String("split") != "" && data == "":
		return nil, usagef("--split needs --data (the manifest's data root)")
	case c.String("split") != "":
		return manifestSource(data, c.String("manifest"), c.String("split"))
	case data != "":
		input = data
	}
	src, err := predictstream.Input(input)
	if errors.Is(err, predictstream.ErrNoInput) {
		flag := "--input"
		if data != "" {
			flag = "--data"
		}
		return nil, usagef("%s: %v", flag, err)
	}
	return src, err
}

// manifestSource is one split of a manifest, its paths under root.
func manifestSource(root, manifest, split string) (predictstream.Source, error) {
	sub, err := dataset.ParseSubset(split)
	if err != nil {
		return nil, usagef("--split: %v", err)
	}
	man, err := dataset.ReadManifest(manifest)
	if err != nil {
		return nil, err
	}
	entries := man.Subset(sub)
	if len(entries) == 0 {
		return nil, usagef("--split %s: the manifest %s has no %s images", split, manifest, split)
	}
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = filepath.Join(root, filepath.FromSlash(e.Path))
	}
	return predictstream.Paths(paths), nil
}

// adaptError puts Adapt's errors in the command line's words.
func adaptError(err error) error {
	var ce *tfgraph.ConfigError
	if errors.As(err, &ce) && ce.Field == "Mode" { // flagFor maps train's fields; adapt's mode is its own
		return usagef("--mode %v: %s", ce.Value, ce.Reason)
	}
	switch {
	case errors.Is(err, adapt.ErrOutputExists):
		return usageError{"--out: " + err.Error()}
	case errors.Is(err, adapt.ErrTooFewImages):
		return fmt.Errorf("%w: give more images with --input or --data", err)
	}
	return cliError(err)
}
