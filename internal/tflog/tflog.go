// Package tflog makes TensorFlow's C++ logging honour TF_CPP_MIN_LOG_LEVEL (default 2:
// errors only). Importing it sets the level of the Abseil logging in TensorFlow's
// framework library; Quiet spends the lines that TensorFlow's main library prints through
// its own bundled Abseil copy, which no setting reaches ("WARNING: All log messages
// before absl::InitializeLog() ...", "I0000 ... MLIR V1 optimization pass is not
// enabled"). The variable must be in the environment before the process starts
// (TensorFlow reads it while loading), which bin/xray's launcher and the Docker image see to.
// Libraries call Once before creating a session, so that programs using them without
// cmd/xray are as quiet; cmd/xray calls Quiet at its start, or Keep for --verbose.
//
//	func main() {
//		tflog.Quiet() // before the first session
//		...
//	}
//
//	tflog.Once(config) // in a library, before tf.NewSession(graph, &tf.SessionOptions{Config: config})
package tflog

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>

// absl::SetMinLogLevel(absl::LogSeverityAtLeast), looked up by its mangled name: the
// symbol carries Abseil's LTS namespace, so another TensorFlow build may lack it, and
// then nothing happens.
static int xray_absl_min_log_level(int level) {
	void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT,
		"_ZN4absl12lts_2023080214SetMinLogLevelENS0_18LogSeverityAtLeastE");
	if (set == NULL) return 0;
	set(level);
	return 1;
}
*/
import "C"

import (
	"os"
	"strconv"
)

// Level is the minimum severity TensorFlow logs: 0 info, 1 warning, 2 error, 3 fatal.
// It comes from TF_CPP_MIN_LOG_LEVEL, default 2 (errors only).
func Level() int {
	if n, err := strconv.Atoi(os.Getenv("TF_CPP_MIN_LOG_LEVEL")); err == nil && n >= 0 && n <= 3 {
		return n
	}
	return 2
}

// Apply sets Abseil's minimum log level to Level and reports whether this TensorFlow
// build exposed the setter.
func Apply() bool { return C.xray_absl_min_log_level(C.int(Level())) == 1 }

func init() { Apply() }
