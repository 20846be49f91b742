package devices

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	tpb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/devices/devicestest"
	"google.golang.org/protobuf/proto"
)

// The ops of the three networks and the training step whose registries are compared.
var referenceOps = []string{"Conv2D", "DepthwiseConv2dNative", "FusedBatchNormV3", "FusedBatchNormGradV3",
	"Conv2DBackpropInput", "Conv2DBackpropFilter", "Relu6", "ReadVariableOp", "AssignSubVariableOp", "MatMul",
	"SoftmaxCrossEntropyWithLogits", "BroadcastGradientArgs"}

func pythonReference(t *testing.T) devicestest.Reference { return devicestest.Run(t, referenceOps...) }

func TestProbeMatchesPython(t *testing.T) {
	ref := pythonReference(t)
	devs, err := Probe(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The reference runs with CUDA_VISIBLE_DEVICES= (no GPU), so compare the CPUs.
	var got []string
	for _, d := range devs {
		if d.Type == CPU {
			got = append(got, fmt.Sprintf("%s %d", d.Short(), d.MemoryBytes))
		}
	}
	if want := ref.CPUs(); len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("CPU devices: got %q, Python TensorFlow %q", got, ref.CPUs())
	}
	if len(GPUs(devs)) == 0 && Line(devs) != "CPU (TensorFlow sees no GPU)" {
		t.Fatalf("Line = %q", Line(devs))
	}
}

func TestGPUBuildMatchesPython(t *testing.T) {
	ref := pythonReference(t)
	got, err := GPUBuild()
	if err != nil {
		t.Fatal(err)
	}
	if got != ref.IsCUDABuild {
		t.Fatalf("GPUBuild() = %v, tf.test.is_built_with_cuda() = %v", got, ref.IsCUDABuild)
	}
}

func TestKernelsMatchPython(t *testing.T) {
	ref := pythonReference(t)
	for _, opType := range referenceOps {
		ks, err := Kernels(opType)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, k := range ks {
			row := []string{k.DeviceType, k.Label}
			var cons []string
			for _, c := range k.Constraint {
				var names []string
				for _, ty := range c.GetAllowedValues().GetList().GetType() {
					names = append(names, ty.String())
				}
				slices.Sort(names)
				cons = append(cons, c.Name+"="+strings.Join(names, ","))
			}
			slices.Sort(cons)
			got = append(got, append(row, cons...))
		}
		slices.SortFunc(got, func(a, b []string) int { return slices.Compare(a, b) })
		if len(got) == 0 || !slices.EqualFunc(got, ref.Kernels[opType], slices.Equal) {
			t.Errorf("%s kernels:\n got %q\nwant %q", opType, got, ref.Kernels[opType])
		}
	}
}

// A graph TensorFlow cannot run on the CPU (MatMul has no uint8 CPU kernel): CheckKernels
// names the op and type, and a session with soft placement off agrees; the float graph
// passes both.
func TestCheckKernelsNamesMissingOp(t *testing.T) {
	s := op.NewScope()
	bad := op.MatMul(s, op.Const(s.SubScope("a"), [][]uint8{{1}}), op.Const(s.SubScope("b"), [][]uint8{{2}}))
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	err = CheckKernels(g, CPU)
	var mk *MissingKernelsError
	if !errors.As(err, &mk) || len(mk.Missing) != 1 {
		t.Fatalf("CheckKernels: %v, want one missing kernel", err)
	}
	if m := mk.Missing[0]; m.Op != "MatMul" || m.Node != bad.Op.Name() || m.Attrs != "T="+tpb.DataType_DT_UINT8.String() {
		t.Fatalf("missing %+v, want MatMul (T=DT_UINT8) at %s", m, bad.Op.Name())
	}
	if !strings.Contains(err.Error(), "no CPU kernel for MatMul (T=DT_UINT8)") {
		t.Fatalf("message %q does not name the op and type", err)
	}
	if _, err := hardPlacedSession(t, g).Run(nil, []tf.Output{bad}, nil); err == nil {
		t.Fatal("TensorFlow ran uint8 MatMul on the CPU, but CheckKernels says it has no kernel")
	}

	s = op.NewScope()
	good := op.MatMul(s, op.Const(s.SubScope("a"), [][]float32{{1}}), op.Const(s.SubScope("b"), [][]float32{{2}}))
	if g, err = s.Finalize(); err != nil {
		t.Fatal(err)
	}
	if err := CheckKernels(g, CPU); err != nil {
		t.Fatalf("float MatMul: %v", err)
	}
	if _, err := hardPlacedSession(t, g).Run(nil, []tf.Output{good}, nil); err != nil {
		t.Fatalf("float MatMul on the CPU: %v", err)
	}
	// The same code reports GPU coverage; a CPU-only build registers no GPU kernel (only
	// DEFAULT ones, such as Const's), so MatMul has none.
	if b, err := GPUBuild(); err == nil && !b {
		if err := CheckKernels(g, GPU); !errors.As(err, &mk) || len(mk.Missing) != 1 || mk.Missing[0].Op != "MatMul" {
			t.Fatalf("CheckKernels(GPU) on a CPU-only build: %v, want MatMul missing", err)
		}
	}
}

func hardPlacedSession(t *testing.T, g *tf.Graph) *tf.Session {
	t.Helper()
	b, err := proto.Marshal(&pb.ConfigProto{AllowSoftPlacement: false})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tf.NewSession(g, &tf.SessionOptions{Config: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// NoGPUError names the likely cause for each combination; every message stays one line.
func TestNoGPUErrorCauses(t *testing.T) {
	for _, c := range []struct {
		e    NoGPUError
		want string
	}{
		{NoGPUError{HostGPU: true, GPUBuild: false}, "CPU-only build although this machine has an NVIDIA GPU"},
		{NoGPUError{HostGPU: false, GPUBuild: false}, "--gpus all"},
		{NoGPUError{HostGPU: false, GPUBuild: true}, "NVIDIA container toolkit"},
		{NoGPUError{HostGPU: true, GPUBuild: true}, "driver"},
	} {
		err := error(&c.e)
		if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %q (want errors.Is ErrNoGPU and %q, one line)", c.e, err, c.want)
		}
	}
}

func TestVersionFormats(t *testing.T) {
	// cudaRuntimeGetVersion: 1000*major + 10*minor; cudnnGetVersion per cudnn.h's CUDNN_VERSION.
	for _, c := range []struct {
		got, want string
	}{
		{cudaVersion(12030), "12.3"}, {cudaVersion(11080), "11.8"},
		{cudnnVersion(90300), "9.3.0"}, {cudnnVersion(8907), "8.9.7"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

// RequireGPU on the devices of this machine: an error exactly when there is no GPU.
func TestRequireGPU(t *testing.T) {
	devs, err := Probe(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = RequireGPU(devs)
	if has := len(GPUs(devs)) > 0; has != (err == nil) || (!has && !errors.Is(err, ErrNoGPU)) {
		t.Fatalf("GPUs %v, RequireGPU: %v", GPUs(devs), err)
	}
}

// The mapped-library scan sees the TensorFlow library this test links; on a CPU-only
// build no CUDA library is loaded, so nothing CUDA is reported.
func TestLoadedCUDA(t *testing.T) {
	if _, err := Probe(nil); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(mappedLibraries(), func(p string) bool { return strings.Contains(p, "libtensorflow_framework.so") }) {
		t.Fatalf("mapped libraries lack libtensorflow_framework: %q", mappedLibraries())
	}
	if b, err := GPUBuild(); err == nil && !b {
		if c := LoadedCUDA(); c.Driver != "" || c.Runtime != "" || c.CuDNN != "" || len(c.Libraries) > 0 {
			t.Fatalf("CPU-only build reports CUDA %+v", c)
		}
	}
}
