// Package tensorboard writes scalar summaries as TensorFlow event files that
// `tensorboard --logdir` reads: Event protobufs (graft's generated event.proto and
// summary.proto types) framed as TFRecords (length, masked CRC32C of the length, data,
// masked CRC32C of the data).
//
//	w, err := tensorboard.NewWriter(filepath.Join(dir, "train"))
//	w.Scalar("epoch_loss", epoch, loss)
//	err = w.Close()
//
// A writer opens a new file each time (events.out.tfevents.<time>.<host>.<pid>.<n>.xray), so
// a resumed run appends a file beside the old ones and TensorBoard merges them.
package tensorboard

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	summarypb "github.com/wamuir/graft/tensorflow/core/framework/summary_go_proto"
	eventpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
	"google.golang.org/protobuf/proto"
)

// fileCount tells apart files one process opens in the same second.
var fileCount atomic.Int64

// ErrClosed is returned by a write on a closed Writer.
var ErrClosed = errors.New("tensorboard: writer is closed")

// Writer appends scalar events to one event file. It is not safe for concurrent use.
type Writer struct {
	f    *os.File
	w    *bufio.Writer
	now  func() time.Time
	path string
}

// NewWriter creates dir and a new event file in it, starting with the file-version event.
func NewWriter(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard log directory: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	now := time.Now()
	path := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%d.%d.xray", now.Unix(), host, os.Getpid(), fileCount.Add(1)))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tensorboard event file: %w", err)
	}
	w := &Writer{f: f, w: bufio.NewWriter(f), now: time.Now, path: path}
	if err := w.write(&eventpb.Event{WallTime: wallTime(now), What: &eventpb.Event_FileVersion{FileVersion: "brain.Event:2"}}); err != nil {
		f.Close()
		return nil, err
	}
	return w, w.Flush()
}

// Path is the event file being written.
func (w *Writer) Path() string { return w.path }

// Scalar records value under tag at step (TensorBoard's x axis).
func (w *Writer) Scalar(tag string, step int64, value float64) error {
	s := &summarypb.Summary{Value: []*summarypb.Summary_Value{{Tag: tag, Value: &summarypb.Summary_Value_SimpleValue{SimpleValue: float32(value)}}}}
	return w.write(&eventpb.Event{WallTime: wallTime(w.now()), Step: step, What: &eventpb.Event_Summary{Summary: s}})
}

// Flush writes buffered events to the file, so a running TensorBoard sees them.
func (w *Writer) Flush() error {
	if w.f == nil {
		return ErrClosed
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("tensorboard %s: %w", w.path, err)
	}
	return nil
}

// Close flushes and closes the file. Closing twice is a no-op.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.Flush()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("tensorboard %s: %w", w.path, cerr)
	}
	w.f = nil
	return err
}

func (w *Writer) write(e *eventpb.Event) error {
	if w.f == nil {
		return ErrClosed
	}
	b, err := proto.Marshal(e)
	if err != nil {
		return fmt.Errorf("tensorboard event: %w", err)
	}
	if err := WriteRecord(w.w, b); err != nil {
		return fmt.Errorf("tensorboard %s: %w", w.path, err)
	}
	return nil
}

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's checksum: CRC32C rotated right by 15 bits plus a constant,
// so a CRC of data that itself holds CRCs stays well distributed.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// WriteRecord writes data as one TFRecord: uint64 length, masked CRC32C of the length
// bytes, data, masked CRC32C of data (all little endian).
func WriteRecord(w io.Writer, data []byte) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var foot [4]byte
	binary.LittleEndian.PutUint32(foot[:], maskedCRC(data))
	for _, b := range [][]byte{hdr[:], data, foot[:]} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
