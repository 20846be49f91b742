package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/preprocess/dicom"
)

// dicomWindowFlag is --dicom-window, for xray train.
func dicomWindowFlag() cli.Flag {
	return &cli.StringFlag{Name: "dicom-window", Value: "auto",
		Usage:   "how DICOM values become 8-bit gray: auto (the file's VOI LUT or window), minmax, or `C,W` (a window center and width); stored in the SavedModel",
		EnvVars: []string{"XRAY_DICOM_WINDOW"}}
}

// modelWindowFlag is --dicom-window for the commands that read images with a model.
func modelWindowFlag() cli.Flag {
	return &cli.StringFlag{Name: "dicom-window",
		Usage:   "how DICOM values become 8-bit gray: auto (the file's VOI LUT or window), minmax, or `C,W` (a window center and width); default: the window the model was trained with",
		EnvVars: []string{"XRAY_DICOM_WINDOW"}}
}

// dicomWindow reads --dicom-window: the one place the command line parses a window.
func dicomWindow(c *cli.Context) (dicom.Window, error) {
	var w dicom.Window
	if err := w.UnmarshalText([]byte(c.String("dicom-window"))); err != nil {
		return w, usagef("--dicom-window: %v", err)
	}
	return w, nil
}

// modelWindow reads a model command's --dicom-window: nil when not given, so the model's
// own window applies.
func modelWindow(c *cli.Context) (*dicom.Window, error) {
	if c.String("dicom-window") == "" {
		return nil, nil
	}
	w, err := dicomWindow(c)
	return &w, err
}

// dicomWarner prints why a DICOM file's prediction deserves doubt (a lateral view, several
// frames, no window of its own under auto), one "xray: warning:" line each, and counts the
// files without a window for the run's summary.
type dicomWarner struct {
	w        io.Writer
	window   dicom.Window // the window the model reads DICOM with
	noWindow int
}

func (d *dicomWarner) warn(p filePrediction) {
	if p.DICOM == nil {
		return
	}
	for _, msg := range p.DICOM.Warnings(d.window) {
		if strings.HasPrefix(msg, dicom.NoWindowWarning) {
			d.noWindow++
		}
		fmt.Fprintf(d.w, "xray: warning: %s: %s\n", p.File, msg)
	}
}

// summary is the count of files read without a window of their own, "" when none.
func (d *dicomWarner) summary() string {
	if d.noWindow == 0 {
		return ""
	}
	return fmt.Sprintf("%d DICOM files without a window of their own (shown over their full range; --dicom-window minmax or C,W chooses one)", d.noWindow)
}
