package devices

import (
	"slices"
	"strings"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

func TestParseReplicas(t *testing.T) {
	for _, c := range []struct {
		spec string
		gpu  bool
		want []string
		cpus int
	}{
		{"", false, nil, 0},
		{"1", true, nil, 0},
		{"2", false, []string{"/device:CPU:0", "/device:CPU:1"}, 2},
		{"2", true, []string{"/device:GPU:0", "/device:GPU:1"}, 0},
		{"gpu:0, GPU:1", false, []string{"/device:GPU:0", "/device:GPU:1"}, 0},
		{"CPU:1,CPU:0", false, []string{"/device:CPU:1", "/device:CPU:0"}, 2},
		{"GPU:1", false, []string{"/device:GPU:1"}, 0},
	} {
		got, cpus, err := ParseReplicas(c.spec, c.gpu)
		if err != nil || !slices.Equal(got, c.want) || cpus != c.cpus {
			t.Errorf("ParseReplicas(%q, %v) = %v, %d, %v; want %v, %d", c.spec, c.gpu, got, cpus, err, c.want, c.cpus)
		}
	}
	for _, spec := range []string{"0", "-1", "TPU:0,TPU:1", "GPU:0,GPU:0", "GPU:x", "two"} {
		_, _, err := ParseReplicas(spec, false)
		if err == nil {
			t.Errorf("ParseReplicas(%q): no error", spec)
		}
	}
}

// TestOneDevice: the one-device settings of a replica list, and TensorFlow's sessions
// made with them see what they name (on a machine with a GPU, only that GPU).
func TestOneDevice(t *testing.T) {
	for _, c := range []struct {
		spec    string
		cpuOnly bool
		visible string // GpuOptions.VisibleDeviceList
		noGPU   bool   // DeviceCount hides the GPUs
	}{
		{"", false, "", false},
		{"1", false, "", false},
		{"1", true, "", true},
		{"GPU:1", false, "1", false},
		{" gpu:0 ", false, "0", false},
		{"CPU:0", false, "", true},
	} {
		cfg := SessionConfig(0, c.cpuOnly)
		if err := OneDevice(cfg, c.spec, c.cpuOnly); err != nil {
			t.Errorf("OneDevice(%q, %v): %v", c.spec, c.cpuOnly, err)
			continue
		}
		if got := cfg.GetGpuOptions().GetVisibleDeviceList(); got != c.visible || (cfg.DeviceCount["GPU"] == 0 && cfg.DeviceCount != nil) != c.noGPU {
			t.Errorf("OneDevice(%q, %v): visible %q, device count %v; want %q, no GPU %v", c.spec, c.cpuOnly, got, cfg.DeviceCount, c.visible, c.noGPU)
		}
	}
	for _, c := range []struct {
		spec    string
		cpuOnly bool
		want    string
	}{
		{"2", false, "names 2 devices"},
		{"GPU:0,GPU:1", false, "names 2 devices"},
		{"GPU:0", true, "on the CPU"},
		{"CPU:1", false, "CPU:0"},
		{"TPU:0", false, "not a device"},
	} {
		if err := OneDevice(SessionConfig(0, c.cpuOnly), c.spec, c.cpuOnly); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OneDevice(%q, %v): %v; want an error saying %q", c.spec, c.cpuOnly, err, c.want)
		}
	}
	cpu := SessionConfig(0, false)
	if err := OneDevice(cpu, "CPU:0", false); err != nil {
		t.Fatal(err)
	}
	if devs := probe(t, cpu); len(GPUs(devs)) != 0 {
		t.Errorf("CPU:0: the session sees %v", devs)
	}
	all := probe(t, SessionConfig(0, false))
	if len(GPUs(all)) == 0 {
		return
	}
	gpu := SessionConfig(0, false)
	if err := OneDevice(gpu, GPUs(all)[len(GPUs(all))-1].Short(), false); err != nil {
		t.Fatal(err)
	}
	if devs := GPUs(probe(t, gpu)); len(devs) != 1 {
		t.Errorf("%s: the session sees GPUs %v, want one", GPUs(all)[len(GPUs(all))-1].Short(), devs)
	}
}

func probe(t *testing.T, cfg *pb.ConfigProto) []Device {
	t.Helper()
	b, err := proto.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := Probe(b)
	if err != nil {
		t.Fatal(err)
	}
	return devs
}
