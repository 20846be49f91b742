package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/tfgraph"
)

func init() {
	register(&cli.Command{
		Name:  "summary",
		Usage: "print a Keras model.summary()-style table of a backbone + the paper's head",
		UsageText: "xray summary --arch {" + strings.Join(tfgraph.Architectures, ",") + "} [--input-size 256] [--pool avg|max]\n\n" +
			"Builds the model graph (no weights needed) and lists every layer with its output shape and\n" +
			"parameter count, then the Total / Trainable / Non-trainable params lines, as Keras prints them.\n\n" +
			"Examples:\n" +
			"   xray summary --arch mobilenet\n" +
			"   xray summary --arch inceptionv3 --input-size 299 --pool max",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "arch", Required: true, Usage: "backbone `ARCH`: " + strings.Join(tfgraph.Architectures, ", "), EnvVars: []string{"XRAY_ARCH"}},
			&cli.IntFlag{Name: "input-size", Value: tfgraph.DefaultInputSize, Usage: "square input side in `PIXELS`", EnvVars: []string{"XRAY_INPUT_SIZE"}},
			&cli.StringFlag{Name: "pool", Value: tfgraph.DefaultPool, Usage: "head pooling `KIND`: avg or max", EnvVars: []string{"XRAY_POOL"}},
		},
		Action: summaryAction,
	})
}

func summaryAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("summary takes no arguments, got %q", c.Args().First())
	}
	cfg := tfgraph.Config{Arch: c.String("arch"), InputSize: c.Int("input-size"), Pool: c.String("pool")}
	if !slices.Contains(tfgraph.Architectures, cfg.Arch) {
		return usagef("summary: unknown --arch %q: use one of %s", cfg.Arch, strings.Join(tfgraph.Architectures, ", "))
	}
	if cfg.Pool != tfgraph.PoolAvg && cfg.Pool != tfgraph.PoolMax {
		return usagef("summary: unknown --pool %q: use %s or %s", cfg.Pool, tfgraph.PoolAvg, tfgraph.PoolMax)
	}
	if cfg.InputSize <= 0 {
		return usagef("summary: --input-size must be positive, got %d", cfg.InputSize)
	}
	m, err := tfgraph.Build(cfg)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return m.WriteSummary(c.App.Writer)
}
