package tflog

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strings"
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
// lines may appear.
func Quiet() error {
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
	runErr := warmUp()
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

// warmUp creates a CPU-only session and runs one op in it.
func warmUp() error {
	s := op.NewScope()
	one := op.Const(s, float32(1))
	sum := op.Add(s, one, one)
	g, err := s.Finalize()
	if err != nil {
		return err
	}
	cfg, err := proto.Marshal(&pb.ConfigProto{DeviceCount: map[string]int32{"GPU": 0}, GpuOptions: &pb.GPUOptions{AllowGrowth: true}})
	if err != nil {
		return err
	}
	sess, err := tf.NewSession(g, &tf.SessionOptions{Config: cfg})
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
