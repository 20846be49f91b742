package versions

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// What a model base holds: its complete version directories and their fingerprints.

// candidate is a version directory that looks complete.
type candidate struct {
	n   int64
	dir string
}

// candidates lists the complete versions, oldest first: a numbered directory with its
// saved_model.pb and variables (index and data), as TensorFlow Serving's file system
// source requires.
func (m *Manager) candidates() []candidate {
	if m.single {
		return []candidate{{1, m.base}}
	}
	ents, _ := os.ReadDir(m.base)
	var out []candidate
	for _, e := range ents {
		n, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || n < 0 || !e.IsDir() {
			continue
		}
		dir := filepath.Join(m.base, e.Name())
		if complete(dir) {
			out = append(out, candidate{n, dir})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

func complete(dir string) bool {
	for _, f := range []string{"saved_model.pb", "variables/variables.index"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	data, _ := filepath.Glob(filepath.Join(dir, "variables", "variables.data-*"))
	return len(data) > 0
}

// fingerprint summarises the files under dir (names, sizes, modification times): a copy
// in progress changes it between polls.
func fingerprint(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
