package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/xraylab/xray/internal/devices"
)

// noGPUError maps devices.ErrNoGPU to the flag that asked for a GPU and the command that
// shows what TensorFlow sees.
func noGPUError(err error) error {
	if errors.Is(err, devices.ErrNoGPU) {
		return fmt.Errorf("--device gpu: %w. Check what TensorFlow sees with 'xray version' (see the README's GPU checklist), or use --device auto to train on the CPU", err)
	}
	return err
}

// logDevice prints, on stderr, the device a command's TensorFlow session runs on (its
// default options, as savedmodels.Load uses): "xray: predicting on CPU (TensorFlow sees
// no GPU)".
func logDevice(w io.Writer, verb string) {
	devs, err := devices.Probe(nil)
	if err != nil {
		fmt.Fprintf(w, "xray: %s on an unknown device (%v)\n", verb, err)
		return
	}
	fmt.Fprintf(w, "xray: %s on %s\n", verb, devices.Line(devs))
}
