package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Several machines (docs/distributed.md): every process of the cluster runs TensorFlow's
// gRPC server; the chief builds the replicated graph over every task's devices (in-graph
// replication, trainer/step) and drives it, feeding each replica its share of every batch,
// and alone writes the run directory; workers only serve. The layout comes from TF_CONFIG,
// the JSON Keras and Kubeflow's TFJob use:
//
//	{"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]},
//	 "task": {"type": "worker", "index": 0}}

// Task types of a cluster.
const (
	TaskChief  = "chief"
	TaskWorker = "worker"
)

// Cluster is a multi-machine run's layout and this process's task in it.
type Cluster struct {
	Chief     string   `json:"chief"`  // the chief's host:port
	Workers   []string `json:"worker"` // each worker's host:port
	TaskType  string   `json:"task_type"`
	TaskIndex int      `json:"task_index"`
	// Wait is how long the chief waits for every worker to answer before it gives up
	// (workers may start after it); 0: DefaultClusterWait.
	Wait time.Duration `json:"wait,omitempty"`
	// StepTimeout bounds every session run of the chief (a worker that hangs without
	// closing its connections); 0: DefaultStepTimeout.
	StepTimeout time.Duration `json:"step_timeout,omitempty"`
}

// Defaults of Cluster's timeouts.
const (
	DefaultClusterWait = 60 * time.Second
	DefaultStepTimeout = 10 * time.Minute
)

// ErrCluster matches every *ClusterError, for errors.Is.
var ErrCluster = errors.New("invalid cluster")

// ClusterError is a cluster layout that cannot run: malformed TF_CONFIG, an unknown task
// type, an index out of range, an address that is not host:port or does not answer.
type ClusterError struct {
	Err    error // a more specific sentinel (ErrNoWorker), or nil
	Reason string
}

func (e *ClusterError) Error() string        { return "cluster: " + e.Reason }
func (e *ClusterError) Is(target error) bool { return target == ErrCluster }
func (e *ClusterError) Unwrap() error        { return e.Err }

// ErrNoWorker is a ClusterError's Err when a worker does not answer within the cluster's wait.
var ErrNoWorker = errors.New("a worker does not answer")

func clusterErr(format string, a ...any) error {
	return &ClusterError{Reason: fmt.Sprintf(format, a...)}
}

// ParseTFConfig reads a TF_CONFIG value.
func ParseTFConfig(s string) (*Cluster, error) {
	var tc struct {
		Cluster map[string][]string `json:"cluster"`
		Task    *struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		} `json:"task"`
	}
	if err := strictJSON(s, &tc); err != nil {
		return nil, err
	}
	if tc.Task == nil || tc.Task.Type == "" {
		return nil, clusterErr(`no "task": give {"task": {"type": "chief" or "worker", "index": i}}`)
	}
	idx := 0
	if tc.Task.Index != nil {
		idx = *tc.Task.Index
	}
	return newCluster(tc.Cluster, tc.Task.Type, idx)
}

// ParseCluster reads the cluster as JSON ({"chief": [...], "worker": [...]}, TF_CONFIG's
// "cluster") and the task as "type:index" ("chief", "worker:1").
func ParseCluster(clusterJSON, task string) (*Cluster, error) {
	var jobs map[string][]string
	if err := strictJSON(clusterJSON, &jobs); err != nil {
		return nil, err
	}
	typ, idx, _ := strings.Cut(strings.TrimSpace(task), ":")
	i := 0
	if idx != "" {
		var err error
		if i, err = strconv.Atoi(idx); err != nil {
			return nil, clusterErr("task %q: the index %q is not a number: use type:index, e.g. worker:0", task, idx)
		}
	}
	return newCluster(jobs, typ, i)
}

func strictJSON(s string, v any) error {
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return clusterErr("malformed JSON at byte %d: %v", se.Offset, err)
		}
		return clusterErr("malformed JSON: %v", err)
	}
	return nil
}

// newCluster checks the jobs and the task.
func newCluster(jobs map[string][]string, typ string, idx int) (*Cluster, error) {
	for name := range jobs {
		if name != TaskChief && name != TaskWorker {
			return nil, clusterErr("unknown job %q: xray's clusters have one chief and workers (no parameter servers or evaluators)", name)
		}
	}
	if len(jobs[TaskChief]) != 1 {
		return nil, clusterErr("%d chief addresses: give exactly one, {\"chief\": [\"host:port\"], ...}", len(jobs[TaskChief]))
	}
	c := &Cluster{Chief: jobs[TaskChief][0], Workers: jobs[TaskWorker], TaskType: typ, TaskIndex: idx}
	if len(c.Workers) == 0 {
		return nil, clusterErr("no workers: give {\"worker\": [\"host:port\", ...]} (a chief alone trains without a cluster)")
	}
	seen := map[string]bool{}
	for _, a := range append([]string{c.Chief}, c.Workers...) {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return nil, clusterErr("address %q is not host:port", a)
		}
		if seen[a] {
			return nil, clusterErr("address %s appears twice: each task needs its own port", a)
		}
		seen[a] = true
	}
	switch {
	case typ != TaskChief && typ != TaskWorker:
		return nil, clusterErr("unknown task type %q: use chief or worker", typ)
	case typ == TaskChief && idx != 0:
		return nil, clusterErr("task chief index %d: there is one chief, index 0", idx)
	case typ == TaskWorker && (idx < 0 || idx >= len(c.Workers)):
		return nil, clusterErr("task worker index %d out of range: the cluster has %d workers (0 to %d)", idx, len(c.Workers), len(c.Workers)-1)
	}
	return c, nil
}

// tasks lists the cluster's tasks in replica order: the chief, then the workers.
func (c *Cluster) tasks() (names, addrs []string) {
	names = append(names, "chief")
	addrs = append(addrs, c.Chief)
	for i, a := range c.Workers {
		names, addrs = append(names, fmt.Sprintf("worker %d", i)), append(addrs, a)
	}
	return names, addrs
}

// JobDevice is the device of a task's local device: "/job:worker/replica:0/task:1/device:GPU:0".
func JobDevice(task int, local string) string {
	job, idx := TaskChief, 0
	if task > 0 {
		job, idx = TaskWorker, task-1
	}
	return fmt.Sprintf("/job:%s/replica:0/task:%d%s", job, idx, local)
}

// WaitForWorkers dials every worker until it answers or the wait runs out; log gets a
// line for each worker it waits for.
func (c *Cluster) WaitForWorkers(log func(string)) error {
	wait := c.Wait
	if wait <= 0 {
		wait = DefaultClusterWait
	}
	deadline := time.Now().Add(wait)
	for i, a := range c.Workers {
		logged := false
		for !reachable(a) {
			if time.Now().After(deadline) {
				return &ClusterError{Reason: fmt.Sprintf("worker %d at %s does not answer after %s: start a worker (ServeWorker) with the same cluster there, or fix its address", i, a, wait), Err: ErrNoWorker}
			}
			if !logged {
				log(fmt.Sprintf("waiting for worker %d at %s", i, a))
				logged = true
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// reachable reports whether a TCP connection to addr opens within a second.
func reachable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// WorkerLostError: a worker stopped answering during training.
type WorkerLostError struct {
	Task string // "worker 0"
	Addr string
	Step int64 // the step that failed; 0 when Watch noticed it
	Err  error // TensorFlow's error, or the failed connection's
}

func (e *WorkerLostError) Error() string {
	during := ""
	if e.Step > 0 {
		during = fmt.Sprintf(" during step %d", e.Step)
	}
	return fmt.Sprintf("%s at %s stopped answering%s (%v); restart it, then resume the run",
		e.Task, e.Addr, during, firstLine(e.Err))
}

// Watch checks every interval that each worker still accepts connections and reports
// the first one that, having answered before, fails three checks in a row; the channel
// closes when ctx ends. A killed worker's pending step never returns to the chief
// (TensorFlow's remote call waits on it), so the chief's front end acts on Watch.
func (c *Cluster) Watch(ctx context.Context, interval time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() {
		defer close(ch)
		names, addrs := c.tasks()
		up, fails := make([]bool, len(addrs)), make([]int, len(addrs))
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for i := 1; i < len(addrs); i++ {
				conn, err := net.DialTimeout("tcp", addrs[i], interval)
				if err == nil {
					conn.Close()
					up[i], fails[i] = true, 0
					continue
				}
				if fails[i]++; up[i] && fails[i] >= 3 {
					ch <- &WorkerLostError{Task: names[i], Addr: addrs[i], Err: err}
					return
				}
			}
		}
	}()
	return ch
}

func (e *WorkerLostError) Unwrap() error { return e.Err }

// lostWorker names the first worker that no longer answers, after a failed step.
func (c *Cluster) lostWorker(step int64, err error) error {
	names, addrs := c.tasks()
	for i := 1; i < len(addrs); i++ {
		if !reachable(addrs[i]) {
			return &WorkerLostError{Task: names[i], Addr: addrs[i], Step: step, Err: err}
		}
	}
	return err
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
