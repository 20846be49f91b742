package trainer

import (
	"errors"

	"github.com/xraylab/xray/internal/devices"
)

// checkDevice asks TensorFlow which devices a session with cfg's options sees, before the
// run directory is touched: a GPU run without a GPU ends here with a *devices.NoGPUError
// (errors.Is devices.ErrNoGPU), and an auto run on a GPU machine whose TensorFlow is a
// CPU-only build says so once.
func checkDevice(cfg Config, log logger) error {
	opts, err := SessionOptions(cfg.Device, cfg.Threads)
	if err != nil {
		return err
	}
	devs, err := devices.Probe(opts.Config)
	if err != nil {
		return err
	}
	switch cfg.Device {
	case DeviceGPU:
		return devices.RequireGPU(devs)
	case DeviceCPU:
		return nil
	}
	if note := devices.CPUOnlyNote(devs); note != "" {
		log.printf("note: %s", note)
	}
	return nil
}

// describeDevices records the session's devices, prints the device line and, on a GPU,
// warns about ops with no GPU kernel (soft placement runs them on the CPU; docs/gpu.md).
func (r *run) describeDevices() error {
	devs, err := devices.List(r.sess)
	if err != nil {
		return err
	}
	r.devs = devs
	if r.cfg.Device == DeviceCPU {
		r.log.printf("training on CPU (device cpu chosen)")
		return nil
	}
	r.log.printf("training on %s", devices.Line(devs))
	if len(devices.GPUs(devs)) == 0 {
		return nil
	}
	var missing *devices.MissingKernelsError
	if err := devices.CheckKernels(r.m.Graph, devices.GPU); errors.As(err, &missing) {
		r.log.printf("warning: %v; TensorFlow runs those ops on the CPU", err)
	} else if err != nil {
		return err
	}
	return nil
}

// runDevices is run.json's record of what the run ran on.
type runDevices struct {
	Devices  []devices.Device `json:"devices"`
	GPUBuild bool             `json:"tensorflow_gpu_build"` // the linked library registers GPU kernels
	CUDA     *devices.CUDA    `json:"cuda,omitempty"`       // loaded CUDA libraries; absent on a CPU run
}

func recordDevices(devs []devices.Device) runDevices {
	rd := runDevices{Devices: devs}
	rd.GPUBuild, _ = devices.GPUBuild()
	if c := devices.LoadedCUDA(); len(c.Libraries) > 0 {
		rd.CUDA = &c
	}
	return rd
}
