package trainer

import (
	"context"
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/trainer/cluster"
)

// sessionOptions resolves the run's replicas and session: one process (replicas from
// Config.Devices, none for one device), or the chief of a cluster, which starts its
// server, waits for the workers and replicates the model over every task's devices.
func (r *run) sessionOptions() ([]string, *tf.SessionOptions, error) {
	reps, pc, gpu, err := replicaSession(r.cfg)
	if err != nil {
		return nil, nil, err
	}
	c := r.cfg.Cluster
	if c == nil {
		opts, err := devices.SessionOptions(pc, "")
		return reps, opts, err
	}
	if c.TaskType != cluster.TaskChief {
		return nil, nil, &cluster.ClusterError{Reason: fmt.Sprintf("this process is worker %d: a worker serves (ServeWorker) and the chief trains", c.TaskIndex)}
	}
	local := reps
	if local == nil {
		local = []string{"/device:CPU:0"}
		if gpu {
			local = []string{"/device:GPU:0"}
		}
	}
	if n := len(local) * (1 + len(c.Workers)); n > r.cfg.BatchSize {
		return nil, nil, &ConfigError{Field: "BatchSize", Value: r.cfg.BatchSize, Reason: fmt.Sprintf("is smaller than the cluster's %d replicas: give each replica at least one image", n)}
	}
	all, target, err := c.StartChief(pc, local, func(line string) { r.log.printf("%s", line) })
	if err != nil {
		return nil, nil, err
	}
	r.cluster = c
	opts, err := devices.SessionOptions(pc, target)
	return all, opts, err
}

// lost turns a failed step of a cluster run into the cluster's account of it (Cluster.Lost).
func (r *run) lost(err error) error {
	if r.cluster == nil {
		return err
	}
	return r.cluster.Lost(r.st.Step+1, err)
}

// ServeWorker runs this process as a worker of cfg.Cluster: TensorFlow's server with the
// devices cfg asks for (Device, Devices, Threads, as the chief was given them), serving
// the chief's graph until ctx ends. It reads no data and writes nothing; its one line,
// where it serves, goes to cfg.Logger.
func ServeWorker(ctx context.Context, cfg Config) error {
	c := cfg.Cluster
	if c == nil || c.TaskType != cluster.TaskWorker {
		return &cluster.ClusterError{Reason: "not a worker task: give a cluster whose task is worker:i"}
	}
	if _, err := quietTF(cfg); err != nil {
		return err
	}
	_, pc, _, err := replicaSession(cfg)
	if err != nil {
		return err
	}
	srv, err := c.StartServer(pc)
	if err != nil {
		return err
	}
	newLogger(cfg.Logger).printf("worker %d serving at %s (target %s); the chief at %s drives training", c.TaskIndex, c.Workers[c.TaskIndex], srv.Target(), c.Chief)
	done := make(chan error, 1)
	go func() { done <- srv.Join() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return fmt.Errorf("worker %d: tensorflow server stopped: %w", c.TaskIndex, err)
	}
}
