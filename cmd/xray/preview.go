package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/preprocess"
)

// previewCommand is 'xray dataset preview': a contact sheet of training samples as the
// loader yields them, one row per image: the image, then one augmented draw per epoch.
func previewCommand() *cli.Command {
	return &cli.Command{
		Name:  "preview",
		Usage: "draw a contact sheet (PNG) of training samples, augmented as --augment would train on them",
		UsageText: "xray dataset preview (--data DIR | --manifest FILE) --out grid.png [--augment] [--images 6] [--draws 5]\n\n" +
			"Each row is one image (drawn at random with --seed): first as preprocessed, then as\n" +
			"augmented in epochs 0, 1, ... (--draws columns) with the same ranges and seed as xray train.\n\n" +
			"Example:\n   xray dataset preview --data testdata/chest_xray --augment --input-size 128 --out grid.png",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "data folder `DIR` (Kaggle or plain layout)", EnvVars: env("DATA")},
			&cli.StringFlag{Name: "manifest", Usage: "manifest `FILE`: preview its training split", EnvVars: env("MANIFEST")},
			&cli.StringFlag{Name: "out", Required: true, Usage: "PNG `FILE` to write", EnvVars: env("OUT")},
			&cli.IntFlag{Name: "input-size", Value: 128, Usage: "side of each sample in pixels", EnvVars: env("INPUT_SIZE")},
			&cli.IntFlag{Name: "images", Value: 6, Usage: "rows: `N` images", EnvVars: env("IMAGES")},
			&cli.IntFlag{Name: "draws", Value: 5, Usage: "augmented columns per image (epochs 0..`N`-1)", EnvVars: env("DRAWS")},
			&cli.Int64Flag{Name: "seed", Value: 42, Usage: "seed of the image choice and the augmentation", EnvVars: env("SEED")},
		}, augmentFlags()...),
		Action: previewAction,
	}
}

func previewAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("dataset preview takes no arguments, got %q", c.Args().First())
	}
	aug, err := augmentFromFlags(c)
	if err != nil {
		return err
	}
	rows, draws := c.Int("images"), c.Int("draws")
	if rows < 1 || draws < 0 || (draws == 0 && aug.On()) {
		return usagef("dataset preview: --images %d --draws %d: use at least 1 image and, with --augment, 1 draw", rows, draws)
	}
	if !aug.On() {
		draws = 0
	}
	root, entries, err := previewEntries(c.String("data"), c.String("manifest"))
	if err != nil {
		return fmt.Errorf("dataset preview: %w", err)
	}
	order := dataset.EpochOrder(len(entries), c.Int64("seed"), 0)
	pick := make([]dataset.Entry, min(rows, len(entries)))
	for i := range pick {
		pick[i] = entries[order[i]]
	}
	cfg := loader.DefaultConfig()
	cfg.Preprocessor = preprocess.Preprocessor{Size: c.Int("input-size"), Scaling: preprocess.Unit}
	cfg.BatchSize, cfg.Shuffle, cfg.Seed = len(pick), false, c.Int64("seed")
	columns := [][]float32{}
	for epoch := -1; epoch < draws; epoch++ {
		lc := cfg
		if epoch >= 0 {
			lc.Augment = aug
		}
		l, err := loader.New(root, pick, lc)
		if err != nil {
			return fmt.Errorf("dataset preview: %w", err)
		}
		for b, err := range l.Epoch(context.Background(), max(epoch, 0)) {
			if err != nil {
				return fmt.Errorf("dataset preview: %w", err)
			}
			columns = append(columns, b.Images)
		}
	}
	sheet := contactSheet(columns, len(pick), cfg.Size)
	if err := atomicfile.Write(c.String("out"), func(w io.Writer) error { return png.Encode(w, sheet) }); err != nil {
		return fmt.Errorf("dataset preview: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d images x (1 + %d draws) at %d px; augmentation %s\n",
		c.String("out"), len(pick), draws, cfg.Size, augmentSummary(aug))
	return nil
}

// previewEntries lists a manifest's training split or every image of a data folder.
func previewEntries(data, manifest string) (string, []dataset.Entry, error) {
	switch {
	case manifest != "":
		m, err := dataset.ReadManifest(manifest)
		if err != nil {
			return "", nil, err
		}
		root := m.Root
		if data != "" {
			root = data
		}
		return root, m.Subset(dataset.Train), nil
	case data != "":
		in, err := dataset.Ingest(data, dataset.IngestOptions{})
		if err != nil {
			return "", nil, err
		}
		return in.Root, in.Entries, nil
	}
	return "", nil, usageError{"dataset preview: give --data DIR or --manifest FILE"}
}

// contactSheet tiles columns (each: n images of size x size x 3 in [0, 1]) into a grey
// image with a 2-pixel gap, one row per image.
func contactSheet(columns [][]float32, n, size int) *image.Gray {
	const gap = 2
	img := image.NewGray(image.Rect(0, 0, len(columns)*(size+gap)-gap, n*(size+gap)-gap))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for col, images := range columns {
		for row := range n {
			px := images[row*size*size*3:]
			for y := range size {
				for x := range size {
					v := px[(y*size+x)*3] // grey X-rays: R = G = B
					img.SetGray(col*(size+gap)+x, row*(size+gap)+y, color.Gray{Y: uint8(v*255 + 0.5)})
				}
			}
		}
	}
	return img
}
