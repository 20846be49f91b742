package trainer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/internal/tflog"
)

// Devices for --device.
const (
	DeviceAuto = devices.ChoiceAuto // a GPU when the linked TensorFlow has one, else the CPU
	DeviceCPU  = devices.ChoiceCPU
	DeviceGPU  = devices.ChoiceGPU
)

// SessionOptions builds the TensorFlow session configuration for a device choice and a
// thread count (Config.Threads: 0 chooses from the cores, devices.PlanThreads). GPU
// memory grows on demand instead of being taken whole, so evaluation or serving can
// share the card.
func SessionOptions(device string, threads int) (*tf.SessionOptions, error) {
	pc, err := devices.ConfigFor(device, threads)
	if err != nil {
		return nil, err
	}
	return devices.SessionOptions(pc, "")
}

// quietTF spends TensorFlow's once-per-process lines (the MLIR line) with the
// configuration of cfg's first session, as every library of ours does before its first
// session, so a program using trainer prints none; it returns that configuration.
func quietTF(cfg Config) (*tf.SessionOptions, error) {
	opts, err := SessionOptions(cfg.Device, cfg.Threads)
	if err != nil {
		return nil, err
	}
	tflog.Once(opts.Config)
	return opts, nil
}

// checkDevice asks TensorFlow which devices a session with cfg's options sees, before the
// run directory is touched: a GPU run without a GPU ends here with a *devices.NoGPUError
// (errors.Is devices.ErrNoGPU), and an auto run on a GPU machine whose TensorFlow is a
// CPU-only build says so once. Its probe is the run's first session: TensorFlow's
// once-per-process lines are spent before it (internal/tflog).
func checkDevice(cfg Config, log logger) error {
	opts, err := quietTF(cfg)
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
		r.log.warnf("%v; TensorFlow runs those ops on the CPU", err)
	} else if err != nil {
		return err
	}
	return nil
}

// replicaSession resolves Config.Devices into the replicas' devices (none without
// replication) and the session configuration that creates them (N logical CPU devices
// through device_count); gpu reports that a bare count means GPUs.
func replicaSession(cfg Config) (reps []string, pc *pb.ConfigProto, gpu bool, err error) {
	if pc, err = devices.ConfigFor(cfg.Device, cfg.Threads); err != nil {
		return nil, nil, false, err
	}
	gpu = cfg.Device == DeviceGPU
	if _, count := strconv.Atoi(strings.TrimSpace(cfg.Devices)); (count == nil || cfg.Cluster != nil) && (cfg.Device == "" || cfg.Device == DeviceAuto) {
		opts, err := SessionOptions(cfg.Device, cfg.Threads)
		if err != nil {
			return nil, nil, false, err
		}
		devs, err := devices.Probe(opts.Config)
		if err != nil {
			return nil, nil, false, err
		}
		gpu = len(devices.GPUs(devs)) > 0
	}
	if reps, err = devices.PlaceReplicas(pc, cfg.Devices, gpu, cfg.Device == DeviceCPU); err != nil {
		return nil, nil, false, &ConfigError{Field: "Devices", Value: cfg.Devices, Reason: err.Error()}
	}
	if cfg.JIT {
		dev := devices.CPU
		if gpu {
			dev = devices.GPU
		}
		if err := devices.JIT(pc, dev); err != nil {
			return nil, nil, false, err
		}
	}
	return reps, pc, gpu, nil
}

// checkReplicaDevices fails when a replica's device is not among the session's.
func checkReplicaDevices(spec string, replicas []string, have []devices.Device) error {
	if err := devices.CheckReplicas(replicas, have); err != nil {
		return &ConfigError{Field: "Devices", Value: spec, Reason: err.Error()}
	}
	return nil
}

// validateDevices checks Config.Devices' syntax and that every replica gets images.
func (c Config) validateDevices() error {
	reps, _, err := devices.ParseReplicas(c.Devices, false)
	if err != nil {
		return &ConfigError{Field: "Devices", Value: c.Devices, Reason: err.Error()}
	}
	if len(reps) > c.BatchSize {
		return &ConfigError{Field: "Devices", Value: c.Devices, Reason: fmt.Sprintf("gives %d replicas a batch of %d: use a batch size of at least one image per replica", len(reps), c.BatchSize)}
	}
	return nil
}
