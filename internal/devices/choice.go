package devices

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
)

// Device choices (trainer.Config.Device, xray --device).
const (
	ChoiceAuto = "auto" // a GPU when the linked TensorFlow has one, else the CPU
	ChoiceCPU  = "cpu"
	ChoiceGPU  = "gpu"
)

// ConfigFor is the session configuration of a device choice and a thread count (0: one
// per core, PlanThreads): SessionConfig, with the GPUs hidden when the choice is cpu.
func ConfigFor(choice string, threads int) (*pb.ConfigProto, error) {
	switch choice {
	case "", ChoiceAuto, ChoiceGPU, ChoiceCPU:
		return SessionConfig(threads, choice == ChoiceCPU), nil
	}
	return nil, fmt.Errorf("unknown device %q (want auto, cpu or gpu)", choice)
}

// PlaceReplicas resolves a replica list (ParseReplicas; gpu: a bare count means GPUs)
// into the replicas' device names and adds to pc the logical CPU devices they need
// (device_count). cpuOnly refuses a list naming a GPU. The error is the reason alone,
// for the caller to name its setting.
func PlaceReplicas(pc *pb.ConfigProto, spec string, gpu, cpuOnly bool) ([]string, error) {
	reps, cpus, err := ParseReplicas(spec, gpu)
	if err != nil {
		return nil, err
	}
	if cpuOnly && slices.ContainsFunc(reps, func(d string) bool { return strings.Contains(d, GPU) }) {
		return nil, errors.New("lists a GPU but the run is on the CPU: list CPU devices or run on gpu")
	}
	if cpus > 1 {
		if pc.DeviceCount == nil {
			pc.DeviceCount = map[string]int32{}
		}
		pc.DeviceCount[CPU] = int32(cpus)
	}
	return reps, nil
}

// CheckReplicas fails when a replica's device is not among have, a session's devices
// (soft placement would otherwise run it elsewhere, silently). A device of a cluster
// job (/job:...) is the remote task's to check. The error is the reason alone.
func CheckReplicas(replicas []string, have []Device) error {
	var names []string
	for _, d := range have {
		names = append(names, d.Short())
	}
	for _, r := range replicas {
		short := strings.TrimPrefix(r, "/device:")
		if strings.HasPrefix(r, "/job:") || slices.Contains(names, short) {
			continue
		}
		return fmt.Errorf("asks for %s, which this machine's TensorFlow does not have (it has %s)", short, strings.Join(names, ", "))
	}
	return nil
}

// Record is a run's account of what it ran on (trainer's run.json).
type Record struct {
	Devices  []Device `json:"devices"`
	GPUBuild bool     `json:"tensorflow_gpu_build"` // the linked library registers GPU kernels
	CUDA     *CUDA    `json:"cuda,omitempty"`       // loaded CUDA libraries; absent on a CPU run
}

// NewRecord records devs with the library's GPU build and the loaded CUDA libraries.
func NewRecord(devs []Device) Record {
	rd := Record{Devices: devs}
	rd.GPUBuild, _ = GPUBuild()
	if c := LoadedCUDA(); len(c.Libraries) > 0 {
		rd.CUDA = &c
	}
	return rd
}
