package dicom

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Window chooses how a DICOM image's values (after the modality LUT) become 8-bit gray.
// The zero value is WindowAuto. JPEG and PNG files are not affected.
type Window struct {
	Mode          WindowMode
	Center, Width float64 // WindowFixed only, in the modality LUT's output units
}

// WindowMode is the kind of Window.
type WindowMode int

const (
	// WindowAuto uses the file's own VOI LUT Sequence, else its first WindowCenter /
	// WindowWidth (with its VOILUTFunction), else the full range BitsStored allows
	// (8-bit images unchanged): what a viewer shows.
	WindowAuto WindowMode = iota
	// WindowMinMax stretches the image's smallest..largest value to 0..255.
	WindowMinMax
	// WindowFixed is a LINEAR window of the given Center and Width (>= 1).
	WindowFixed
)

// ErrWindow is wrapped by Window.UnmarshalText for text it cannot read.
var ErrWindow = errors.New("bad DICOM window")

// UnmarshalText reads "auto", "minmax" or "C,W" (a window center and width, e.g.
// "2048,4096"; the width at least 1). Bad text wraps ErrWindow.
func (w *Window) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch s {
	case "auto", "":
		*w = Window{}
		return nil
	case "minmax":
		*w = Window{Mode: WindowMinMax}
		return nil
	}
	cs, ws, ok := strings.Cut(s, ",")
	c, err1 := strconv.ParseFloat(strings.TrimSpace(cs), 64)
	wd, err2 := strconv.ParseFloat(strings.TrimSpace(ws), 64)
	if !ok || err1 != nil || err2 != nil || math.IsInf(c, 0) || math.IsNaN(c) || !(wd >= 1) || math.IsInf(wd, 0) {
		return fmt.Errorf("%w %q: use auto, minmax or CENTER,WIDTH with a width of at least 1 (e.g. 2048,4096)", ErrWindow, s)
	}
	*w = Window{Mode: WindowFixed, Center: c, Width: wd}
	return nil
}

// Validate reports a Window UnmarshalText could not have made (an unknown mode, a fixed
// window narrower than 1 or not finite), wrapping ErrWindow.
func (w Window) Validate() error {
	if w.Mode < WindowAuto || w.Mode > WindowFixed || (w.Mode == WindowFixed && !(w.Width >= 1 && !math.IsInf(w.Width, 0) && !math.IsNaN(w.Center) && !math.IsInf(w.Center, 0))) {
		return fmt.Errorf("%w %v: use auto, minmax or a center and a width of at least 1", ErrWindow, w)
	}
	return nil
}

// MarshalText writes the form UnmarshalText reads.
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

func (w Window) String() string {
	switch w.Mode {
	case WindowMinMax:
		return "minmax"
	case WindowFixed:
		return strconv.FormatFloat(w.Center, 'g', -1, 64) + "," + strconv.FormatFloat(w.Width, 'g', -1, 64)
	}
	return "auto"
}
