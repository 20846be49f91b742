package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/tfdist"
	"google.golang.org/protobuf/proto"
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
		opts, err := marshalOptions(pc, "")
		return reps, opts, err
	}
	if c.TaskType != TaskChief {
		return nil, nil, clusterErr("this process is worker %d: a worker serves (ServeWorker) and the chief trains", c.TaskIndex)
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
	srv, err := c.startServer(pc)
	if err != nil {
		return nil, nil, err
	}
	r.log.printf("chief serving at %s; cluster of %d workers", c.Chief, len(c.Workers))
	if err := c.waitForWorkers(r.log); err != nil {
		return nil, nil, err
	}
	var all []string
	for t := 0; t <= len(c.Workers); t++ {
		for _, d := range local {
			all = append(all, jobDevice(t, d))
		}
	}
	pc.OperationTimeoutInMs = c.stepTimeout().Milliseconds()
	r.cluster = c
	opts, err := marshalOptions(pc, srv.Target())
	return all, opts, err
}

// lost turns a failed step of a cluster run into a WorkerLostError naming the worker
// that stopped answering, when one did.
func (r *run) lost(err error) error {
	if r.cluster == nil || err == nil {
		return err
	}
	if lw := r.cluster.lostWorker(r.st.Step+1, err); lw != err {
		return lw
	}
	if s := err.Error(); strings.Contains(s, "DEADLINE_EXCEEDED") || strings.Contains(s, "Deadline Exceeded") {
		return fmt.Errorf("%w (%s) at step %d: a worker hangs, or a step needs a longer timeout: %v", ErrStepTimeout, r.cluster.stepTimeout(), r.st.Step+1, firstLine(err))
	}
	return err
}

// ErrStepTimeout: a session run of a cluster run took longer than Cluster.StepTimeout.
var ErrStepTimeout = errors.New("a step took longer than the cluster's step timeout")

func (c *Cluster) stepTimeout() time.Duration {
	if c.StepTimeout <= 0 {
		return DefaultStepTimeout
	}
	return c.StepTimeout
}

// startServer starts this task's TensorFlow gRPC server; sessCfg configures the devices
// it offers (device_count, threads).
func (c *Cluster) startServer(sessCfg *pb.ConfigProto) (*tfdist.Server, error) {
	workers := map[int32]string{}
	for i, a := range c.Workers {
		workers[int32(i)] = a
	}
	own := c.Chief
	if c.TaskType == TaskWorker {
		own = c.Workers[c.TaskIndex]
	}
	_, port, _ := net.SplitHostPort(own)
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, clusterErr("address %s: port %q is not a number", own, port)
	}
	def := &pb.ServerDef{
		Cluster: &pb.ClusterDef{Job: []*pb.JobDef{
			{Name: TaskChief, Tasks: map[int32]string{0: c.Chief}},
			{Name: TaskWorker, Tasks: workers},
		}},
		JobName: c.TaskType, TaskIndex: int32(c.TaskIndex), DefaultSessionConfig: sessCfg, Protocol: "grpc", Port: int32(p),
	}
	b, err := proto.Marshal(def)
	if err != nil {
		return nil, err
	}
	srv, err := tfdist.NewServer(b)
	if err != nil {
		return nil, clusterErr("cannot serve %s %d on port %d (%v): free the port or change the address", c.TaskType, c.TaskIndex, p, err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return nil, clusterErr("%v", err)
	}
	return srv, nil
}

// ServeWorker runs this process as a worker of cfg.Cluster: TensorFlow's server with the
// devices cfg asks for (Device, Devices, Threads, as the chief was given them), serving
// the chief's graph until ctx ends. It reads no data and writes nothing.
func ServeWorker(ctx context.Context, cfg Config, stdout io.Writer) error {
	c := cfg.Cluster
	if c == nil || c.TaskType != TaskWorker {
		return clusterErr("not a worker task: give a cluster whose task is worker:i")
	}
	_, pc, _, err := replicaSession(cfg)
	if err != nil {
		return err
	}
	srv, err := c.startServer(pc)
	if err != nil {
		return err
	}
	log := logger{w: stdout}
	log.printf("worker %d serving at %s (target %s); the chief at %s drives training", c.TaskIndex, c.Workers[c.TaskIndex], srv.Target(), c.Chief)
	done := make(chan error, 1)
	go func() { done <- srv.Join() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return fmt.Errorf("worker %d: tensorflow server stopped: %w", c.TaskIndex, err)
	}
}
