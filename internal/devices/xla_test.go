package devices

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"google.golang.org/protobuf/proto"
)

// TestJITCompilesWithXLA runs a small graph in a session with JIT on, in a child process
// with TensorFlow's info log on, and checks that TensorFlow says it compiled a cluster
// with XLA; without JIT it must not.
func TestJITCompilesWithXLA(t *testing.T) {
	if mode := os.Getenv("XRAY_JIT_CHILD"); mode != "" {
		runJITChild(t, mode == "on")
		return
	}
	const compiled = "Compiled cluster using XLA"
	for _, on := range []bool{true, false} {
		mode := map[bool]string{true: "on", false: "off"}[on]
		cmd := exec.Command(os.Args[0], "-test.run=^TestJITCompilesWithXLA$", "-test.count=1")
		cmd.Env = append(os.Environ(), "XRAY_JIT_CHILD="+mode, "TF_CPP_MIN_LOG_LEVEL=0", "TF_CPP_MAX_VLOG_LEVEL=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with JIT %s: %v\n%s", mode, err, out)
		}
		if got := bytes.Contains(out, []byte(compiled)); got != on {
			t.Errorf("JIT %s: TensorFlow logged %q: %v, want %v\n%s", mode, compiled, got, on, out)
		}
	}
}

func runJITChild(t *testing.T, on bool) {
	cfg := &pb.ConfigProto{}
	if on {
		if err := JIT(cfg, CPU); err != nil {
			t.Fatal(err)
		}
	}
	b, err := proto.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := op.NewScope()
	x := op.Placeholder(s, tf.Float, op.PlaceholderShape(tf.MakeShape(4, 4)))
	y := x
	for i := range 4 { // a cluster above XLA's minimum size
		ss := s.SubScope(fmt.Sprint("layer", i))
		y = op.Relu(ss, op.Add(ss, op.MatMul(ss, y, x), op.Const(ss.SubScope("one"), float32(1))))
	}
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(g, &tf.SessionOptions{Config: b})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	in, _ := tf.NewTensor([][]float32{{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}})
	for range 3 {
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{x: in}, []tf.Output{y}, nil); err != nil {
			t.Fatal(err)
		}
	}
}
