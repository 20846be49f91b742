package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/tfdist"
	"google.golang.org/protobuf/proto"
)

// Lost explains a failed step of the chief: a WorkerLostError naming the worker that
// stopped answering, when one did, or ErrStepTimeout when the step ran past StepTimeout;
// other errors pass unchanged.
func (c *Cluster) Lost(step int64, err error) error {
	if err == nil {
		return nil
	}
	if lw := c.lostWorker(step, err); lw != err {
		return lw
	}
	if s := err.Error(); strings.Contains(s, "DEADLINE_EXCEEDED") || strings.Contains(s, "Deadline Exceeded") {
		return fmt.Errorf("%w (%s) at step %d: a worker hangs, or a step needs a longer timeout: %v", ErrStepTimeout, c.StepLimit(), step, firstLine(err))
	}
	return err
}

// ErrStepTimeout: a session run of a cluster run took longer than Cluster.StepTimeout.
var ErrStepTimeout = errors.New("a step took longer than the cluster's step timeout")

// StepLimit is StepTimeout, or DefaultStepTimeout when that is 0.
func (c *Cluster) StepLimit() time.Duration {
	if c.StepTimeout <= 0 {
		return DefaultStepTimeout
	}
	return c.StepTimeout
}

// StartServer starts this task's TensorFlow gRPC server; sessCfg configures the devices
// it offers (device_count, threads).
func (c *Cluster) StartServer(sessCfg *pb.ConfigProto) (*tfdist.Server, error) {
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

// StartChief runs the chief's side of a run (c is the chief's task): it starts the
// task's server with sessCfg, waits for every worker (log gets the waiting lines),
// places the local replicas on every task (JobDevice, the chief's first) and bounds each
// step by StepLimit. It returns the replicas' devices and the target a session of the
// chief connects to.
func (c *Cluster) StartChief(sessCfg *pb.ConfigProto, local []string, log func(string)) (replicas []string, target string, err error) {
	srv, err := c.StartServer(sessCfg)
	if err != nil {
		return nil, "", err
	}
	log(fmt.Sprintf("chief serving at %s; cluster of %d workers", c.Chief, len(c.Workers)))
	if err := c.WaitForWorkers(log); err != nil {
		return nil, "", err
	}
	for t := 0; t <= len(c.Workers); t++ {
		for _, d := range local {
			replicas = append(replicas, JobDevice(t, d))
		}
	}
	sessCfg.OperationTimeoutInMs = c.StepLimit().Milliseconds()
	return replicas, srv.Target(), nil
}
