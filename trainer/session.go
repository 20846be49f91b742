package trainer

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Devices for --device.
const (
	DeviceAuto = "auto" // a GPU when the linked TensorFlow has one, else the CPU
	DeviceCPU  = "cpu"
	DeviceGPU  = "gpu"
)

// SessionOptions builds the TensorFlow session configuration for a device choice and a
// thread count (Config.Threads: 0 chooses from the cores, planThreads). GPU memory grows on demand instead of being
// taken whole, so evaluation or serving can share the card.
func SessionOptions(device string, threads int) (*tf.SessionOptions, error) {
	cfg, err := sessionConfig(device, threads)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return &tf.SessionOptions{Config: b}, nil
}

// sessionConfig is SessionOptions' configuration, for callers that add to it.
func sessionConfig(device string, threads int) (*pb.ConfigProto, error) {
	plan := planThreads(threads)
	cfg := &pb.ConfigProto{
		IntraOpParallelismThreads: int32(plan.IntraOp),
		InterOpParallelismThreads: int32(plan.InterOp),
		AllowSoftPlacement:        true,
		GpuOptions:                &pb.GPUOptions{AllowGrowth: true},
	}
	switch device {
	case "", DeviceAuto, DeviceGPU:
	case DeviceCPU:
		cfg.DeviceCount = map[string]int32{"GPU": 0}
	default:
		return nil, fmt.Errorf("unknown device %q (want auto, cpu or gpu)", device)
	}
	return cfg, nil
}
