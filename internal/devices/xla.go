package devices

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	kpb "github.com/wamuir/graft/tensorflow/core/framework/kernel_def_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
)

// ErrNoXLA is wrapped by JIT when the linked TensorFlow has no XLA JIT for the device.
var ErrNoXLA = errors.New("the linked TensorFlow library has no XLA JIT")

// JIT turns on XLA's global JIT (global_jit_level ON_1, what TF_XLA_FLAGS=--tf_xla_auto_jit=1
// does) in cfg for sessions on deviceType (CPU or GPU). TensorFlow ignores the setting
// silently when XLA is not compiled in, so JIT first checks that the library registers
// XLA's compile kernel (_XlaCompile) for deviceType, and wraps ErrNoXLA otherwise.
func JIT(cfg *pb.ConfigProto, deviceType string) error {
	ks, err := Kernels("_XlaCompile")
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ks, func(k *kpb.KernelDef) bool { return k.DeviceType == deviceType }) {
		return fmt.Errorf("%w for %s: link a TensorFlow built with XLA (the tensorflow-cpu and tensorflow wheels are) or run without JIT", ErrNoXLA, deviceType)
	}
	if cfg.GraphOptions == nil {
		cfg.GraphOptions = &pb.GraphOptions{}
	}
	if cfg.GraphOptions.OptimizerOptions == nil {
		cfg.GraphOptions.OptimizerOptions = &pb.OptimizerOptions{}
	}
	cfg.GraphOptions.OptimizerOptions.GlobalJitLevel = pb.OptimizerOptions_ON_1
	return nil
}

// init lets sessions on the CPU honour global_jit_level: TensorFlow clusters CPU graphs
// for XLA only with --tf_xla_cpu_global_jit, a flag it reads once from TF_XLA_FLAGS on
// first use, which is after package initialisation. Sessions without JIT are unaffected.
func init() {
	const flag = "--tf_xla_cpu_global_jit"
	if v := os.Getenv("TF_XLA_FLAGS"); !strings.Contains(v, flag) {
		os.Setenv("TF_XLA_FLAGS", strings.TrimSpace(v+" "+flag))
	}
}
