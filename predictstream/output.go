package predictstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrExists is wrapped by OpenOutput's error when the file already holds lines and
// resuming was not asked for: resume it or remove it.
var ErrExists = errors.New("output file already holds predictions")

// Output is a JSON Lines file of Lines, appended a batch at a time and fsync'd after
// each, so that a kill loses at most the batches not yet written.
type Output struct {
	path    string
	f       *os.File
	done    map[string]struct{} // files the resumed file already held
	lines   int                 // lines in the file
	failed  int                 // error lines among them
	encoded []byte
}

// OpenOutput creates the file at path, or with resume opens it to go on: the files it
// holds lines for are Done, and a torn last line (no newline: a write cut short) is
// dropped so its file is predicted again. Without resume, a file that already holds
// lines is an error wrapping ErrExists. A line that is not one of Line's objects is an
// error: the file is not this package's output.
func OpenOutput(path string, resume bool) (*Output, error) {
	o := &Output{path: path, done: map[string]struct{}{}}
	flags := os.O_RDWR | os.O_CREATE
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	o.f = f
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	if st.Size() > 0 && !resume {
		f.Close()
		return nil, fmt.Errorf("output %s: %w: resume it, or remove it to start over", path, ErrExists)
	}
	if err := o.load(); err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() == 0 { // new: make its directory entry durable too
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return o, nil
}

// load reads the existing lines into done and truncates a torn last line.
func (o *Output) load() error {
	r := bufio.NewReader(o.f)
	var good int64 // bytes up to the end of the last whole line
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			var l struct {
				File  string  `json:"file"`
				Error *string `json:"error"`
			}
			if jerr := json.Unmarshal(b, &l); jerr != nil || l.File == "" {
				return fmt.Errorf("output %s: line %d is not a prediction line (%q): not predictions written by xray; give another file", o.path, o.lines+1, truncate(b, 60))
			}
			o.done[l.File] = struct{}{}
			o.lines++
			if l.Error != nil {
				o.failed++
			}
			good += int64(len(b))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("output %s: %w", o.path, err)
		}
	}
	if err := o.f.Truncate(good); err != nil {
		return fmt.Errorf("output %s: drop the torn last line: %w", o.path, err)
	}
	if _, err := o.f.Seek(good, io.SeekStart); err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Done reports whether the file held a line for path when it was opened.
func (o *Output) Done(path string) bool {
	_, ok := o.done[path]
	return ok
}

// Resumed is how many lines the file held when it was opened.
func (o *Output) Resumed() int { return len(o.done) }

// Counts are the lines in the file and the error lines among them, earlier runs' included.
func (o *Output) Counts() (lines, failed int) { return o.lines, o.failed }

// Write appends lines, then flushes them to disk (fsync) before returning.
func (o *Output) Write(lines []Line) error {
	o.encoded = o.encoded[:0]
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("output %s: %s: %w", o.path, l.File, err)
		}
		o.encoded = append(append(o.encoded, b...), '\n')
		if l.Err != nil {
			o.failed++
		}
	}
	o.lines += len(lines)
	if _, err := o.f.Write(o.encoded); err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	return nil
}

// Close closes the file.
func (o *Output) Close() error {
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	return nil
}
