package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/evaluator/compare"
)

func init() {
	register(&cli.Command{
		Name:  "compare",
		Usage: "compare evaluated runs side by side with the paper's Table 1",
		UsageText: "xray compare [--out DIR] RUN_DIR|metrics.json...\n\n" +
			"Reads each run's eval-test/metrics.json (or metrics.json), takes the model from run.json's\n" +
			"\"arch\", prints one table of the runs next to the paper's published numbers, and warns when\n" +
			"the runs were not evaluated on the same test split.\n\n" +
			"Example:\n" +
			"   xray compare --out runs/compare runs/xception runs/mobilenet runs/inceptionv3",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "also write compare.md and compare.png into `DIR`", EnvVars: []string{"XRAY_OUT"}},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("compare needs at least one RUN_DIR")
			}
			cmp, err := compare.Load(c.Args().Slice())
			if err != nil {
				return err
			}
			fmt.Fprint(c.App.Writer, cmp.Markdown())
			for _, w := range cmp.Warnings {
				fmt.Fprintf(c.App.ErrWriter, "xray: warning: %s\n", w)
			}
			if out := c.String("out"); out != "" {
				if err := compare.Write(out, cmp); err != nil {
					return err
				}
				fmt.Fprintf(c.App.ErrWriter, "xray: wrote %s and %s in %s\n", compare.File, compare.ChartFile, out)
			}
			return nil
		},
	})
}
