package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/tfgraph/weights"
)

func init() {
	archFlag := func(required bool) *cli.StringFlag {
		return &cli.StringFlag{Name: "arch", Required: required, Usage: "architecture: " + strings.Join(tfgraph.Architectures, ", "), EnvVars: env("ARCH")}
	}
	register(&cli.Command{
		Name:  "weights",
		Usage: "fetch and verify the ImageNet weight files keras.applications uses",
		UsageText: "xray weights fetch --arch A [--cache-dir DIR]\n   xray weights verify [--arch A] [--input-size N] FILE\n\n" +
			"Examples:\n" +
			"   xray weights fetch --arch xception          # into ~/.keras/models, shared with Keras\n" +
			"   xray weights verify --arch mobilenet ~/.keras/models/mobilenet_1_0_224_tf_no_top.h5",
		Subcommands: []*cli.Command{
			{
				Name:  "fetch",
				Usage: "download an architecture's ImageNet no-top file into Keras's cache (reused if already there) and verify it",
				UsageText: "xray weights fetch --arch A [--cache-dir DIR]\n\n" +
					"Files go where Keras keeps them ($KERAS_HOME/models, else ~/.keras/models). Set\n" +
					weights.BaseURLEnv + " to download from a mirror.\n\n" +
					"Example:\n   xray weights fetch --arch inceptionv3",
				Flags: []cli.Flag{
					archFlag(true),
					&cli.StringFlag{Name: "cache-dir", Usage: "folder of the weight files `DIR` (default " + weights.CacheDir() + ")", EnvVars: env("CACHE_DIR")},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("weights fetch takes no arguments, got %q", c.Args().First())
					}
					path, err := weights.Fetch(c.Context, weights.FetchConfig{Arch: c.String("arch"), CacheDir: c.String("cache-dir"), Progress: progressBar(c.App.ErrWriter)})
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, path)
					return nil
				},
			},
			{
				Name:  "verify",
				Usage: "check a weight file: Keras's pinned hash (for its ImageNet files), that it reads, and that it fits an architecture",
				UsageText: "xray weights verify [--arch A] [--input-size N] FILE\n\n" +
					"Examples:\n" +
					"   xray weights verify ~/.keras/models/xception_weights_tf_dim_ordering_tf_kernels_notop.h5\n" +
					"   xray weights verify --arch mobilenet --input-size 256 paper_mobilenet.h5",
				Flags: []cli.Flag{
					archFlag(false),
					&cli.IntFlag{Name: "input-size", Usage: "input side a full model was built for (default 256)", EnvVars: env("INPUT_SIZE")},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						for _, a := range c.Args().Slice() {
							if strings.HasPrefix(a, "-") {
								return usagef("weights verify: put flags before FILE (got %q after it)", a)
							}
						}
						return usagef("weights verify takes one FILE, got %d arguments", c.NArg())
					}
					v, err := weights.Verify(weights.VerifyConfig{Path: c.Args().First(), Arch: c.String("arch"), InputSize: c.Int("input-size")})
					if err != nil {
						return err
					}
					printVerification(c, v)
					return nil
				},
			},
		},
	})
}

func printVerification(c *cli.Context, v *weights.Verification) {
	w := c.App.Writer
	f := v.File
	fmt.Fprintf(w, "file:    %s\nlayout:  %s", f.Path, f.Layout)
	if f.KerasVersion != "" {
		fmt.Fprintf(w, " (Keras %s)", f.KerasVersion)
	}
	fmt.Fprintf(w, "\nweights: %d layers, %d tensors, %d parameters\n", len(f.Layers), len(f.Tensors()), f.NumParams())
	if v.HashOK {
		fmt.Fprintf(w, "hash:    ok (%s pinned by Keras)\n", v.Source.Hash)
	} else {
		fmt.Fprintf(w, "hash:    not checked: %s\n", v.HashNote)
	}
	switch {
	case v.Arch == "":
		fmt.Fprintln(w, "fits:    not checked (give --arch)")
	case v.Mode == weights.ModeBase:
		fmt.Fprintf(w, "fits:    ok, the %s backbone (the head keeps its initialisation)\n", v.Arch)
	default:
		fmt.Fprintf(w, "fits:    ok, the whole %s model (backbone and head)\n", v.Arch)
	}
}
