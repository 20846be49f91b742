package predictstream

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// collect runs src to the end: the paths, the per-file errors' paths and the source's error.
func collect(src Source) (paths, failed []string, err error) {
	for p, e := range src {
		switch {
		case p == "":
			err = e
		case e != nil:
			failed = append(failed, p)
		default:
			paths = append(paths, p)
		}
	}
	return paths, failed, err
}

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInput(t *testing.T) {
	root := t.TempDir()
	j := func(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }
	touch(t, j("b.jpeg"), j("a.PNG"), j("sub", "c.jpg"), j("notes.txt"), j(".hidden.jpeg"), j(".git", "d.jpeg"), j("z", "e.jpeg"), j("z", "f.dcm"))
	want := []string{j("a.PNG"), j("b.jpeg"), j("sub", "c.jpg"), j("z", "e.jpeg"), j("z", "f.dcm")} // lexical walk order

	src, err := Input(root)
	if err != nil {
		t.Fatal(err)
	}
	got, failed, err := collect(src)
	if err != nil || len(failed) > 0 || !slices.Equal(got, want) {
		t.Errorf("directory: %q (failed %q, %v), want %q", got, failed, err, want)
	}
	if n := Count(src); n != len(want) {
		t.Errorf("Count = %d, want %d (a source reads twice)", n, len(want))
	}

	src, err = Input(j("*", "*.j*g"))
	if err != nil {
		t.Fatal(err)
	}
	// filepath.Glob's matching: unlike a shell's, * also matches a leading dot.
	if got, _, _ := collect(src); !slices.Equal(got, []string{j(".git", "d.jpeg"), j("sub", "c.jpg"), j("z", "e.jpeg")}) {
		t.Errorf("glob: %q", got)
	}

	list := j("list.txt")
	if err := os.WriteFile(list, []byte("# scans\n"+j("b.jpeg")+"\r\n\n  \nrel/missing.png\n"+j("sub")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err = Input(list)
	if err != nil {
		t.Fatal(err)
	}
	// Entries are passed on as written: reading them is the prediction's job, so a
	// missing one becomes its error line there.
	if got, _, err := collect(src); err != nil || !slices.Equal(got, []string{j("b.jpeg"), "rel/missing.png", j("sub")}) {
		t.Errorf("list: %q, %v", got, err)
	}

	src, err = Input(j("b.jpeg"))
	if got, _, _ := collect(src); err != nil || !slices.Equal(got, []string{j("b.jpeg")}) {
		t.Errorf("one image: %q, %v", got, err)
	}

	for _, spec := range []string{j("none"), j("*.gif")} {
		if _, err := Input(spec); !errors.Is(err, ErrNoInput) {
			t.Errorf("Input(%q) = %v, want ErrNoInput", spec, err)
		}
	}
}

// A directory that cannot be read is an error line, not the end of the walk.
func TestInputUnreadableDirectory(t *testing.T) {
	root := t.TempDir()
	touch(t, filepath.Join(root, "a.jpeg"))
	src := walk(filepath.Join(root, "gone"))
	got, failed, err := collect(src)
	if len(got) != 0 || !slices.Equal(failed, []string{filepath.Join(root, "gone")}) || err != nil {
		t.Errorf("walk of a missing directory: paths %q, error lines %q, %v; want one error line", got, failed, err)
	}
}
