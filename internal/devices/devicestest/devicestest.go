// Package devicestest gives tests Python TensorFlow's view of this machine (the same
// 2.18 library, through scripts/ref/devices.py): the build kind, the local devices and
// the registered kernels of chosen op types. Production code never imports it.
package devicestest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/pyref"
)

// Reference is devices.py's answer. The script runs with CUDA_VISIBLE_DEVICES= (pyref),
// so it lists no GPU: compare CPU devices with it.
type Reference struct {
	IsCUDABuild bool `json:"is_cuda_build"`
	Devices     []struct {
		Name        string `json:"name"` // "/device:CPU:0"
		Type        string `json:"type"`
		MemoryBytes int64  `json:"memory_bytes"`
	} `json:"devices"`
	Kernels map[string][][]string `json:"kernels"` // op -> sorted [device, label, "attr=DT_A,DT_B"...]
}

// CPUs lists the reference's CPU devices as "CPU:0 <memory bytes>".
func (r Reference) CPUs() []string {
	var out []string
	for _, d := range r.Devices {
		if d.Type == "CPU" {
			out = append(out, strings.TrimPrefix(d.Name, "/device:")+" "+jsonInt(d.MemoryBytes))
		}
	}
	return out
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// Run returns the reference for the op types given, cached under .cache by script,
// TensorFlow version and ops (the device list is this machine's).
func Run(t testing.TB, ops ...string) Reference {
	t.Helper()
	script := pyref.Script("devices.py")
	key := append([]string{"devices.py", pyref.FileHash(t, script), tf.Version()}, ops...)
	cached := filepath.Join(pyref.CacheDir(t, key...), "devices.json")
	b, err := os.ReadFile(cached)
	if err != nil {
		b = pyref.Run(t, script, ops...)
		if err := os.WriteFile(cached, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ref Reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("devices.py: %v", err)
	}
	if len(ref.Devices) == 0 || len(ref.Kernels) != len(ops) {
		t.Fatalf("devices.py answered nothing: %s", b)
	}
	return ref
}
