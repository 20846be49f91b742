package trainer

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/devices"
	"google.golang.org/protobuf/proto"
)

// Devices for --device.
const (
	DeviceAuto = "auto" // a GPU when the linked TensorFlow has one, else the CPU
	DeviceCPU  = "cpu"
	DeviceGPU  = "gpu"
)

// SessionOptions builds the TensorFlow session configuration for a device choice and a
// thread count (Config.Threads: 0 chooses from the cores, devices.PlanThreads). GPU memory grows on demand instead of being
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
	switch device {
	case "", DeviceAuto, DeviceGPU, DeviceCPU:
		return devices.SessionConfig(threads, device == DeviceCPU), nil
	}
	return nil, fmt.Errorf("unknown device %q (want auto, cpu or gpu)", device)
}
