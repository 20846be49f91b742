package cluster

import (
	"errors"
	"strings"
	"testing"
)

// TestParseTFConfig reads TF_CONFIG values as Keras's documentation writes them, and
// rejects the bad ones with an error naming the problem.
func TestParseTFConfig(t *testing.T) {
	c, err := ParseTFConfig(`{"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Chief != "host0:2222" || len(c.Workers) != 2 || c.Workers[1] != "host2:2222" || c.TaskType != TaskWorker || c.TaskIndex != 1 {
		t.Fatalf("parsed %+v", c)
	}
	if names, addrs := c.tasks(); strings.Join(names, ",") != "chief,worker 0,worker 1" || addrs[2] != "host2:2222" {
		t.Fatalf("tasks %v %v", names, addrs)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"malformed JSON", `{"cluster": {"chief": ["h:1"]`, "malformed JSON"},
		{"unknown field", `{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "chief"}, "environment": "cloud"}`, "malformed JSON"},
		{"no task", `{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}}`, `no "task"`},
		{"unknown task type", `{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "ps", "index": 0}}`, `unknown task type "ps"`},
		{"parameter servers", `{"cluster": {"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}, "task": {"type": "chief"}}`, `unknown job "ps"`},
		{"index out of range", `{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker", "index": 1}}`, "index 1 out of range: the cluster has 1 workers"},
		{"negative index", `{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker", "index": -1}}`, "index -1 out of range"},
		{"two chiefs", `{"cluster": {"chief": ["h:1", "h:3"], "worker": ["h:2"]}, "task": {"type": "chief"}}`, "2 chief addresses"},
		{"no workers", `{"cluster": {"chief": ["h:1"]}, "task": {"type": "chief"}}`, "no workers"},
		{"bad address", `{"cluster": {"chief": ["h:1"], "worker": ["nohostport"]}, "task": {"type": "chief"}}`, `"nohostport" is not host:port`},
		{"same address twice", `{"cluster": {"chief": ["h:1"], "worker": ["h:1"]}, "task": {"type": "chief"}}`, "appears twice"},
	} {
		_, err := ParseTFConfig(tc.json)
		if !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an ErrCluster containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseClusterFlags(t *testing.T) {
	c, err := ParseCluster(`{"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222"]}`, "worker:0")
	if err != nil || c.TaskType != TaskWorker || c.TaskIndex != 0 || c.Chief != "10.0.0.1:2222" {
		t.Fatalf("ParseCluster: %+v, %v", c, err)
	}
	if c, err := ParseCluster(`{"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222"]}`, "chief"); err != nil || c.TaskType != TaskChief {
		t.Fatalf("task chief: %+v, %v", c, err)
	}
	if _, err := ParseCluster(`{"chief": ["a:1"], "worker": ["b:1"]}`, "worker:x"); !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("worker:x: %v", err)
	}
}
