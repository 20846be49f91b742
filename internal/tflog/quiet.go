package tflog

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"google.golang.org/protobuf/proto"
)

// Quiet runs a throwaway one-op TensorFlow session (CPU only) with standard error
// captured, then writes back the captured lines at or above Level. It exists for the
// lines TensorFlow's C++ library prints through its own bundled copy of Abseil, which
// no setting reaches: "WARNING: All log messages before absl::InitializeLog() is called
// are written to STDERR" and "I0000 ... MLIR V1 optimization pass is not enabled". They
// come once per process, at the first session run, so spending them here keeps every
// later session quiet. Call it once, before any other session; errors only mean the
// lines may appear. After it, Once does nothing.
func Quiet() error {
	mu.Lock()
	defer mu.Unlock()
	spent = true
	return quiet(cpuOnly)
}

// cpuOnly is Quiet's session configuration: no GPU is touched.
var cpuOnly, _ = proto.Marshal(&pb.ConfigProto{DeviceCount: map[string]int32{"GPU": 0}, GpuOptions: &pb.GPUOptions{AllowGrowth: true}})

var (
	mu    sync.Mutex
	spent bool // Quiet, Once or Keep has run: the lines are spent or to be kept
)

// Once is Quiet for libraries: every package of ours that creates a TensorFlow session
// calls it first with that session's configuration (a serialized ConfigProto; nil for
// TensorFlow's defaults), so a program that only imports our libraries does not print
// TensorFlow's once-per-process lines either. The throwaway session is made with the
// caller's configuration because TensorFlow sizes process-wide thread pools from the
// first session of a process: the caller's session finds them as it would have. Only the
// first call of a process does anything, and nothing with TF_CPP_MIN_LOG_LEVEL=0 (the
// caller asked for TensorFlow's informational lines) or after Keep. While its one small
// session runs, standard error is captured; what other goroutines write there
// meanwhile is written back after it, only TensorFlow's lines below Level dropped.
func Once(config []byte) {
	mu.Lock()
	defer mu.Unlock()
	if spent {
		return
	}
	spent = true
	if Level() > 0 {
		_ = quiet(config)
	}
}

// Keep leaves TensorFlow's once-per-process lines to be printed (xray --verbose): Once
// then does nothing.
func Keep() {
	mu.Lock()
	defer mu.Unlock()
	spent = true
}

// quiet runs a throwaway session made with config, with standard error captured, and
// writes back the captured lines at or above Level.
func quiet(config []byte) error {
	tmp, err := os.CreateTemp("", "xray-tflog-")
	if err != nil {
		return err
	}
	os.Remove(tmp.Name())
	defer tmp.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		return err
	}
	defer syscall.Close(saved)
	if err := syscall.Dup3(int(tmp.Fd()), 2, 0); err != nil {
		return err
	}
	runErr := warmUp(config)
	if err := syscall.Dup3(saved, 2, 0); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := Filter(os.Stderr, tmp, Level()); err != nil {
		return err
	}
	return runErr
}

// warmUp creates a session with config and runs one op in it.
func warmUp(config []byte) error {
	s := op.NewScope()
	one := op.Const(s, float32(1))
	sum := op.Add(s, one, one)
	g, err := s.Finalize()
	if err != nil {
		return err
	}
	var opts *tf.SessionOptions
	if config != nil {
		opts = &tf.SessionOptions{Config: config}
	}
	sess, err := tf.NewSession(g, opts)
	if err != nil {
		return err
	}
	defer sess.Close()
	_, err = sess.Run(nil, []tf.Output{sum}, nil)
	return err
}

// abslLine matches an Abseil log line's prefix, capturing the severity letter. Before
// InitializeLog the time is printed as "0000 00:00:" and Unix seconds:
// "I0000 00:00:1795902165.182936   25465 file.cc:401] ".
var abslLine = regexp.MustCompile(`^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] `)

// abslBanner is what Abseil prints before its first line when InitializeLog was not called.
const abslBanner = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"

// Filter copies r to w line by line, dropping Abseil log lines below level (0 info, 1
// warning, 2 error, 3 fatal) and, above level 0, Abseil's not-initialised banner.
func Filter(w io.Writer, r io.Reader, level int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := abslLine.FindStringSubmatch(line); m != nil && strings.Index("IWEF", m[1]) < level {
			continue
		}
		if level > 0 && strings.HasPrefix(line, abslBanner) {
			continue
		}
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
	return sc.Err()
}
