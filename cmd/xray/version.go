package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/internal/devices"
)

func init() {
	register(&cli.Command{
		Name:      "version",
		Usage:     "print xray's version, the TensorFlow library it is linked against and the devices TensorFlow sees",
		UsageText: "xray version\n\nExample:\n   xray version",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("version takes no arguments, got %q", c.Args().First())
			}
			fmt.Fprintf(c.App.Writer, "xray %s\nTensorFlow %s (C API, graft %s, %s)\n%s %s/%s\n",
				buildinfo.Version, buildinfo.TensorFlowVersion(), buildinfo.GraftVersion, buildKind(),
				runtime.Version(), runtime.GOOS, runtime.GOARCH)
			printDevices(c.App.Writer)
			return nil
		},
	})
}

func buildKind() string {
	switch gpu, err := devices.GPUBuild(); {
	case err != nil:
		return "build kind unknown: " + err.Error()
	case gpu:
		return "GPU build"
	default:
		return "CPU-only build"
	}
}

// printDevices lists what TensorFlow sees, one device a line, and when there is no GPU,
// the likely reason.
func printDevices(w io.Writer) {
	devs, err := devices.Probe(nil)
	if err != nil {
		fmt.Fprintf(w, "devices: unknown (%s)\n", oneLine(err.Error()))
		return
	}
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = d.String()
	}
	fmt.Fprintf(w, "devices: %s\n", strings.Join(names, ", "))
	if err := devices.RequireGPU(devs); err != nil {
		fmt.Fprintf(w, "GPU: none: %s\n", strings.TrimPrefix(err.Error(), devices.ErrNoGPU.Error()+": "))
	}
	if c := devices.LoadedCUDA(); c.Driver != "" || c.Runtime != "" {
		fmt.Fprintf(w, "CUDA: driver %s, runtime %s, cuDNN %s\n", orUnknown(c.Driver), orUnknown(c.Runtime), orUnknown(c.CuDNN))
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "not loaded yet"
	}
	return s
}
