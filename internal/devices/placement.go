package devices

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Placement: where a session's work goes. Replica lists name the devices of synchronous
// data parallelism; a thread plan sizes TensorFlow's pools and the loader; SessionConfig
// is the session configuration both go into.

// ParseReplicas reads a replica list (trainer.Config.Devices): "" or "1" (no replication), a count N (the first N
// GPUs when gpu, else N logical CPU devices), or a list such as "GPU:0,GPU:1". It returns
// the replicas' device names (none without replication) and how many CPU devices the
// session must create. The error is the reason alone, for the caller to name its setting.
func ParseReplicas(spec string, gpu bool) (devs []string, cpus int, err error) {
	bad := func(reason string) error { return errors.New(reason) }
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "1" {
		return nil, 0, nil
	}
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 || n > 256 {
			return nil, 0, bad("must be a device count from 1 to 256 or a list such as GPU:0,GPU:1")
		}
		kind := "CPU"
		if gpu {
			kind = "GPU"
		}
		for i := range n {
			devs = append(devs, fmt.Sprintf("/device:%s:%d", kind, i))
		}
		if !gpu {
			cpus = n
		}
		return devs, cpus, nil
	}
	for _, d := range strings.Split(spec, ",") {
		kind, idx, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(d)), ":")
		i, err := strconv.Atoi(idx)
		if !ok || (kind != "CPU" && kind != "GPU") || err != nil || i < 0 {
			return nil, 0, bad(fmt.Sprintf("%q is not a device: use CPU:i or GPU:i, e.g. GPU:0,GPU:1", d))
		}
		name := fmt.Sprintf("/device:%s:%d", kind, i)
		if slices.Contains(devs, name) {
			return nil, 0, bad(fmt.Sprintf("lists %s twice", d))
		}
		devs = append(devs, name)
		if kind == "CPU" {
			cpus = max(cpus, i+1)
		}
	}
	return devs, cpus, nil // one listed device is one replica: the graph placed on it
}

// ThreadPlan is how many threads a run uses: chosen from the cores unless the caller
// sets them (trainer.Config.Threads). run.json records it.
type ThreadPlan struct {
	Cores   int `json:"cores"`            // logical CPUs this process may run on (GOMAXPROCS)
	IntraOp int `json:"intra_op_threads"` // TensorFlow's threads inside one op (a convolution)
	InterOp int `json:"inter_op_threads"` // TensorFlow ops run at once
	Loader  int `json:"loader_workers"`   // goroutines decoding and resizing images
}

// PlanThreads is the plan for a thread count (trainer.Config.Threads): n > 0 gives TensorFlow n threads of each
// kind and the loader n workers; 0 gives each one thread per core, the fastest choice
// measured (docs/performance.md: on two cores, fewer intra-op or inter-op threads were
// 1.3-2.3x slower per training epoch).
//
// TensorFlow sizes its process-wide CPU thread pools from the first session a process
// creates, so the plan holds where the run's sessions come first, as in xray train.
func PlanThreads(n int) ThreadPlan {
	cores := runtime.GOMAXPROCS(0)
	if n > 0 {
		return ThreadPlan{Cores: cores, IntraOp: n, InterOp: n, Loader: n}
	}
	return ThreadPlan{Cores: cores, IntraOp: cores, InterOp: cores, Loader: cores}
}

// SessionOptions turns a session configuration into graft's options for target ("" in
// process, a gRPC server's target for a cluster).
func SessionOptions(pc *pb.ConfigProto, target string) (*tf.SessionOptions, error) {
	b, err := proto.Marshal(pc)
	if err != nil {
		return nil, err
	}
	return &tf.SessionOptions{Target: target, Config: b}, nil
}

// SessionConfig is the session configuration of a thread plan: GPU memory grows on
// demand instead of being taken whole, so evaluation or serving can share the card;
// cpuOnly hides the GPUs.
func SessionConfig(threads int, cpuOnly bool) *pb.ConfigProto {
	plan := PlanThreads(threads)
	cfg := &pb.ConfigProto{
		IntraOpParallelismThreads: int32(plan.IntraOp),
		InterOpParallelismThreads: int32(plan.InterOp),
		AllowSoftPlacement:        true,
		GpuOptions:                &pb.GPUOptions{AllowGrowth: true},
	}
	if cpuOnly {
		cfg.DeviceCount = map[string]int32{"GPU": 0}
	}
	return cfg
}

// SessionThreads is the plan a session gets from its configuration (the serialized
// ConfigProto it is created with): TensorFlow's pool sizes read back from it, the
// loader's and the cores from plan. Records made from it hold what TensorFlow was told,
// not what a setting asked for.
func SessionThreads(config []byte, plan ThreadPlan) (ThreadPlan, error) {
	var pc pb.ConfigProto
	if err := proto.Unmarshal(config, &pc); err != nil {
		return ThreadPlan{}, fmt.Errorf("session configuration: %w", err)
	}
	plan.IntraOp, plan.InterOp = int(pc.IntraOpParallelismThreads), int(pc.InterOpParallelismThreads)
	return plan, nil
}

// OneDevice applies a replica list (ParseReplicas's syntax) to cfg for a command that
// runs one session on one device, such as xray adapt, whose passes are sequential: "",
// "1" or one device are accepted. "GPU:i" shows the session only that GPU (TensorFlow
// then calls it GPU:0); "CPU:0" hides the GPUs. More than one device, a GPU with cpuOnly,
// or a CPU other than CPU:0 (a session has one CPU device unless it makes more) are
// errors. The error is the reason alone, for the caller to name its setting.
func OneDevice(cfg *pb.ConfigProto, spec string, cpuOnly bool) error {
	devs, _, err := ParseReplicas(spec, !cpuOnly)
	switch {
	case err != nil:
		return err
	case len(devs) == 0:
		return nil
	case len(devs) > 1:
		return fmt.Errorf("names %d devices, and this command runs on one: name one device (e.g. GPU:1) or leave it out", len(devs))
	}
	kind, idx, _ := strings.Cut(strings.TrimPrefix(devs[0], "/device:"), ":")
	switch {
	case kind == "GPU" && cpuOnly:
		return errors.New("names a GPU but the run is on the CPU: name CPU:0 or run on gpu")
	case kind == "GPU":
		if cfg.GpuOptions == nil {
			cfg.GpuOptions = &pb.GPUOptions{}
		}
		cfg.GpuOptions.VisibleDeviceList = idx
	case idx != "0":
		return fmt.Errorf("names CPU:%s; this command's session has one CPU device, CPU:0", idx)
	default:
		cfg.DeviceCount = map[string]int32{"GPU": 0}
	}
	return nil
}
