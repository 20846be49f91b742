package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xraylab/xray/kerasimport"
	"github.com/xraylab/xray/tfgraph"
)

func init() {
	register(&cli.Command{
		Name:  "import-keras",
		Usage: "turn a Keras-trained paper model (backbone + head) into a SavedModel our Go stack serves",
		UsageText: "xray import-keras --arch A --weights MODEL --out DIR [--pool avg|max] [--input-size N] [--preprocess paper|imagenet]\n\n" +
			"MODEL is the Keras model file: model.save(\"m.h5\") or model.save_weights(\"m.h5\") (Keras 2),\n" +
			"model.save(\"m.keras\") or model.save_weights(\"m.weights.h5\") (Keras 3).\n\n" +
			"Example:\n   xray import-keras --arch mobilenet --weights paper_mobilenet.h5 --out runs/keras-mobilenet/savedmodel",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "arch", Required: true, Usage: "architecture: " + strings.Join(tfgraph.Architectures, ", "), EnvVars: env("ARCH")},
			&cli.StringFlag{Name: "weights", Required: true, Usage: "the Keras model `FILE` (.h5, .weights.h5, .keras)", EnvVars: env("WEIGHTS")},
			&cli.StringFlag{Name: "out", Required: true, Usage: "SavedModel `DIR` to write (replaced atomically)", EnvVars: env("OUT")},
			&cli.StringFlag{Name: "pool", Value: tfgraph.PoolAvg, Usage: "the model's head pooling: avg or max", EnvVars: env("POOL")},
			&cli.IntFlag{Name: "input-size", Value: tfgraph.DefaultInputSize, Usage: "input side the model was built for", EnvVars: env("INPUT_SIZE")},
			&cli.StringFlag{Name: "preprocess", Value: "paper", Usage: "pixel scaling it was trained with: paper ([0,1]) or imagenet ([-1,1])", EnvVars: env("PREPROCESS")},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("import-keras takes no arguments, got %q (did you mean --weights %s?)", c.Args().First(), c.Args().First())
			}
			scaling, err := scalingFlag(c)
			if err != nil {
				return err
			}
			rep, err := kerasimport.Import(kerasimport.Config{
				Arch: c.String("arch"), Weights: c.String("weights"), Out: c.String("out"),
				Pool: c.String("pool"), InputSize: c.Int("input-size"), Scaling: scaling,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "imported %s\nSavedModel: %s\n", rep, c.String("out"))
			return nil
		},
	})
}
