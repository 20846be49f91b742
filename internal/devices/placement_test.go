package devices

import (
	"slices"
	"testing"
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
