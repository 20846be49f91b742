// Package devices says what TensorFlow runs on: the devices a session sees (through the C
// API's session device list, with the GPU's model and compute capability from the CUDA
// driver), whether the linked library is a CUDA build, and whether every op of a graph has
// a kernel for a device type, so a GPU run never silently falls back to the CPU.
//
//	devs, err := devices.Probe(sessionConfig) // before anything is written
//	if err := devices.RequireGPU(devs); err != nil { ... } // errors.Is(err, devices.ErrNoGPU)
//	fmt.Println("training on", devices.Line(devs))
package devices

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
)

// Device types as TensorFlow names them.
const (
	CPU = "CPU"
	GPU = "GPU"
)

// Device is one device of a TensorFlow session.
type Device struct {
	Name        string `json:"name"`         // "/job:localhost/replica:0/task:0/device:GPU:0"
	Type        string `json:"type"`         // "CPU", "GPU"
	MemoryBytes int64  `json:"memory_bytes"` // TensorFlow's memory limit for the device
	// GPU only, from the CUDA driver (empty when it cannot be asked).
	Model             string `json:"model,omitempty"`              // "NVIDIA A100-SXM4-80GB"
	ComputeCapability string `json:"compute_capability,omitempty"` // "9.0"
	TotalMemoryBytes  int64  `json:"total_memory_bytes,omitempty"` // the card's memory
}

// Short is the device's local name: "GPU:0", "CPU:0".
func (d Device) Short() string {
	if i := strings.LastIndex(d.Name, "device:"); i >= 0 {
		return d.Name[i+len("device:"):]
	}
	return d.Name
}

// index is the device's ordinal within its type (GPU:1 -> 1), -1 if unknown.
func (d Device) index() int {
	s := d.Short()
	n, err := strconv.Atoi(s[strings.LastIndexByte(s, ':')+1:])
	if err != nil {
		return -1
	}
	return n
}

// String describes the device in one phrase: "GPU:0 (NVIDIA A100-SXM4-80GB, compute
// capability 8.0, 80 GiB)" or "CPU:0".
func (d Device) String() string {
	if d.Type != GPU {
		return d.Short()
	}
	model, cc := d.Model, "compute capability "+d.ComputeCapability
	if model == "" {
		model = "model unknown: the CUDA driver could not be asked"
	}
	if d.ComputeCapability == "" {
		cc = "compute capability unknown"
	}
	mem := d.TotalMemoryBytes
	if mem <= 0 {
		mem = d.MemoryBytes
	}
	return fmt.Sprintf("%s (%s, %s, %s)", d.Short(), model, cc, gib(mem))
}

func gib(b int64) string {
	return fmt.Sprintf("%.0f GiB", float64(b)/(1<<30))
}

// List returns the devices of a session, GPUs described by the CUDA driver.
func List(sess *tf.Session) ([]Device, error) {
	ds, err := sess.ListDevices()
	if err != nil {
		return nil, fmt.Errorf("list TensorFlow devices: %w", err)
	}
	out := make([]Device, len(ds))
	for i, d := range ds {
		out[i] = Device{Name: d.Name, Type: d.Type, MemoryBytes: d.MemoryLimitBytes}
		if d.Type == GPU {
			describeGPU(&out[i])
		}
	}
	return out, nil
}

// Probe lists the devices a session made with config (a serialized ConfigProto; nil for
// TensorFlow's defaults) sees, using an empty graph, so callers can check the device
// before building a model or writing anything.
func Probe(config []byte) ([]Device, error) {
	var opts *tf.SessionOptions
	if config != nil {
		opts = &tf.SessionOptions{Config: config}
	}
	sess, err := tf.NewSession(tf.NewGraph(), opts)
	if err != nil {
		return nil, fmt.Errorf("start TensorFlow session: %w", err)
	}
	defer sess.Close()
	return List(sess)
}

// GPUs returns the GPU devices of devs.
func GPUs(devs []Device) []Device {
	var out []Device
	for _, d := range devs {
		if d.Type == GPU {
			out = append(out, d)
		}
	}
	return out
}

// Line is what a run says it runs on: its first GPU, or "CPU (TensorFlow sees no GPU)".
func Line(devs []Device) string {
	if g := GPUs(devs); len(g) > 0 {
		return g[0].String()
	}
	return "CPU (TensorFlow sees no GPU)"
}

// ErrNoGPU is matched (errors.Is) by the error RequireGPU returns.
var ErrNoGPU = errors.New("TensorFlow sees no GPU")

// NoGPUError says why TensorFlow may see no GPU, from what the process can tell.
type NoGPUError struct {
	HostGPU  bool // an NVIDIA device node or nvidia-smi is present
	GPUBuild bool // the linked TensorFlow registers GPU kernels
}

func (e *NoGPUError) Error() string {
	var cause string
	switch {
	case !e.GPUBuild && e.HostGPU:
		cause = "the linked TensorFlow library is a CPU-only build although this machine has an NVIDIA GPU: build against TensorFlow's CUDA library (Dockerfile.gpu)"
	case !e.GPUBuild:
		cause = "the linked TensorFlow library is a CPU-only build (use the CUDA build: Dockerfile.gpu), and no NVIDIA device is visible either (in Docker: run with --gpus all, with the NVIDIA container toolkit installed)"
	case !e.HostGPU:
		cause = "no NVIDIA device is visible to this process: in Docker, run with --gpus all and install the NVIDIA container toolkit on the host; outside Docker, check the driver with nvidia-smi"
	default:
		cause = "an NVIDIA device is present but TensorFlow could not use it: the driver may be too old for TensorFlow 2.18's CUDA 12 (check nvidia-smi), or CUDA_VISIBLE_DEVICES hides it"
	}
	return ErrNoGPU.Error() + ": " + cause
}

func (e *NoGPUError) Is(target error) bool { return target == ErrNoGPU }

// RequireGPU returns a *NoGPUError (matching ErrNoGPU) when devs hold no GPU.
func RequireGPU(devs []Device) error {
	if len(GPUs(devs)) > 0 {
		return nil
	}
	gpuBuild, err := GPUBuild()
	if err != nil {
		return err
	}
	return &NoGPUError{HostGPU: HostHasGPU(), GPUBuild: gpuBuild}
}

// CPUOnlyNote is a one-line remark when devs hold no GPU though the machine has one and
// the linked TensorFlow is a CPU-only build; "" otherwise.
func CPUOnlyNote(devs []Device) string {
	if len(GPUs(devs)) > 0 || !HostHasGPU() {
		return ""
	}
	if b, err := GPUBuild(); err != nil || b {
		return ""
	}
	return "this machine has an NVIDIA GPU, but the linked TensorFlow library is a CPU-only build, so the GPU is not used (see the README's GPU checklist)"
}

// HostHasGPU reports whether the machine shows an NVIDIA GPU: the device node the driver
// creates, or nvidia-smi on PATH.
func HostHasGPU() bool {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		return true
	}
	_, err := exec.LookPath("nvidia-smi")
	return err == nil
}
