package tfdist

import (
	"fmt"
	"net"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"google.golang.org/protobuf/proto"
)

// TestSetDevice: TensorFlow reports the device SetDevice requested (the graft struct
// layout the cast relies on still holds).
func TestSetDevice(t *testing.T) {
	s := op.NewScope()
	c := op.Const(s, float32(1))
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	SetDevice(g, c.Op, "/device:CPU:0")
	if got := c.Op.Device(); got != "/device:CPU:0" {
		t.Fatalf("device %q after SetDevice, want /device:CPU:0", got)
	}
}

// freePort returns a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServerRunsAGraph starts a one-task cluster's server and runs, through its target,
// a graph pinned to that task: 2 + 3 computed by the server's runtime.
func TestServerRunsAGraph(t *testing.T) {
	port := freePort(t)
	def, err := proto.Marshal(&pb.ServerDef{
		Cluster:  &pb.ClusterDef{Job: []*pb.JobDef{{Name: "worker", Tasks: map[int32]string{0: fmt.Sprintf("127.0.0.1:%d", port)}}}},
		JobName:  "worker",
		Protocol: "grpc",
		Port:     int32(port),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(def)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Target(), "grpc://") {
		t.Fatalf("target %q, want grpc://...", srv.Target())
	}
	s := op.NewScope().WithDevice("/job:worker/replica:0/task:0/device:CPU:0")
	sum := op.Add(s, op.Const(s.SubScope("a"), float32(2)), op.Const(s.SubScope("b"), float32(3)))
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(g, &tf.SessionOptions{Target: srv.Target()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(nil, []tf.Output{sum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Value().(float32); got != 5 {
		t.Fatalf("2 + 3 = %v on the server", got)
	}
}

func TestNewServerErrors(t *testing.T) {
	if _, err := NewServer(nil); err == nil {
		t.Error("NewServer(nil): no error")
	}
	if _, err := NewServer([]byte("not a ServerDef")); err == nil {
		t.Error("NewServer(garbage): no error")
	}
}
