package predictstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Extensions are the file name endings (lower-cased) a directory walk picks up; other
// files and hidden ones (a leading dot) are passed over.
var Extensions = []string{".jpeg", ".jpg", ".png", ".dcm", ".dicom", ".dic"}

// ErrNoInput is wrapped by Input's error when the input names nothing to predict: a
// missing path, a glob that matches no file.
var ErrNoInput = errors.New("no input files")

// A Source yields the paths to predict, lazily. A yielded error with a path is that
// file's problem (it becomes the file's error line); with an empty path it ends the
// source (a list that cannot be read further).
type Source = iter.Seq2[string, error]

// Paths is a Source over paths given in full (command-line arguments).
func Paths(paths []string) Source {
	return func(yield func(string, error) bool) {
		for _, p := range paths {
			if !yield(p, nil) {
				return
			}
		}
	}
}

// Input opens what spec names as a Source:
//
//   - a directory: its image files (Extensions), walked in lexical order, subdirectories
//     included;
//   - a glob (filepath.Match syntax, "scans/*/IM-*.jpeg"): the files it matches;
//   - an image file (one of Extensions): that file;
//   - any other file: a list of paths, one per line (blank lines and lines starting with
//     # skipped; relative paths are taken as given, from the working directory, like
//     command-line arguments);
//   - "-": such a list on standard input.
//
// The paths appear in the output exactly as the walk, the glob or the list spells them,
// which is how a resumed run recognises them: resume from the same working directory
// with the same spec.
func Input(spec string) (Source, error) {
	if spec == "-" {
		return lines(func() (io.ReadCloser, error) { return io.NopCloser(os.Stdin), nil }, "standard input"), nil
	}
	st, err := os.Stat(spec)
	switch {
	case err == nil && st.IsDir():
		return walk(spec), nil
	case err == nil && isImage(spec):
		return Paths([]string{spec}), nil
	case err == nil:
		f, err := os.Open(spec) // readable now, or the error comes before any work
		if err != nil {
			return nil, fmt.Errorf("input list %s: %w", spec, err)
		}
		f.Close()
		return lines(func() (io.ReadCloser, error) { return os.Open(spec) }, spec), nil
	case strings.ContainsAny(spec, "*?["):
		matches, err := filepath.Glob(spec)
		if err != nil {
			return nil, fmt.Errorf("input pattern %q: %w", spec, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("input pattern %q: %w: it matches no file", spec, ErrNoInput)
		}
		return Paths(matches), nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("input %s: %w: no such file or directory (give a directory, a glob or a list file)", spec, ErrNoInput)
	default:
		return nil, fmt.Errorf("input %s: %w", spec, err)
	}
}

func isImage(name string) bool {
	return slices.Contains(Extensions, strings.ToLower(filepath.Ext(name)))
}

// walk yields the image files under root. A directory that cannot be read is an error
// line for that directory; the walk goes on.
func walk(root string) Source {
	return func(yield func(string, error) bool) {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if !yield(path, err) {
					return fs.SkipAll
				}
				return nil
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !isImage(path) {
				return nil
			}
			if !yield(path, nil) {
				return fs.SkipAll
			}
			return nil
		})
	}
}

// lines yields the paths listed in the file open opens, one per line.
func lines(open func() (io.ReadCloser, error), name string) Source {
	return func(yield func(string, error) bool) {
		r, err := open()
		if err != nil {
			yield("", fmt.Errorf("input list %s: %w", name, err))
			return
		}
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			p := strings.TrimRight(sc.Text(), "\r")
			if strings.TrimSpace(p) == "" || strings.HasPrefix(p, "#") {
				continue
			}
			if !yield(p, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield("", fmt.Errorf("input list %s: %w", name, err))
		}
	}
}

// Count is how many paths src yields (errors included), for a progress bar's total. It
// reads the source once more, so it counts nothing on a list read from standard input.
func Count(src Source) int {
	n := 0
	for p := range src {
		if p != "" {
			n++
		}
	}
	return n
}
