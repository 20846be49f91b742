package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/internal/buildinfo"
)

func init() {
	register(&cli.Command{
		Name:      "version",
		Usage:     "print xray's version and the TensorFlow library it is linked against",
		UsageText: "xray version\n\nExample:\n   xray version",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("version takes no arguments, got %q", c.Args().First())
			}
			fmt.Fprintf(c.App.Writer, "xray %s\nTensorFlow %s (C API, graft %s)\n%s %s/%s\n",
				buildinfo.Version, buildinfo.TensorFlowVersion(), buildinfo.GraftVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
