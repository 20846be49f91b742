package xray

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestClaimsNameRealTests keeps docs/claims.md honest: every test, benchmark, fuzz target or
// example a row names must exist as a func in the package named before it in the same cell
// (`pkg` TestA, TestB; `pkg2` BenchmarkC). A renamed or deleted test fails here instead of
// leaving a claim backed by nothing.
func TestClaimsNameRealTests(t *testing.T) {
	f, err := os.Open(filepath.Join("docs", "claims.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgRe := regexp.MustCompile("`([a-z][a-z0-9_./-]*)`")
	nameRe := regexp.MustCompile(`\b(?:Test|Benchmark|Fuzz|Example)[A-Z0-9]\w*`)
	checked := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 0; sc.Scan(); line++ {
		row := sc.Text()
		if !strings.HasPrefix(row, "|") || strings.HasPrefix(row, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		cell := cells[len(cells)-1]
		for _, ref := range references(cell, pkgRe, nameRe) {
			checked++
			if !funcExists(t, ref[0], ref[1]) {
				t.Errorf("docs/claims.md line %d names %s in %s, which has no such func", line+1, ref[1], ref[0])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("only %d test names found in docs/claims.md: the parser lost the table format", checked)
	}
}

// references pairs each test name in a claims cell with the package named last before it.
func references(cell string, pkgRe, nameRe *regexp.Regexp) [][2]string {
	var out [][2]string
	pkgs := pkgRe.FindAllStringSubmatchIndex(cell, -1)
	for _, m := range nameRe.FindAllStringIndex(cell, -1) {
		pkg := ""
		for _, p := range pkgs {
			if p[0] < m[0] {
				pkg = cell[p[2]:p[3]]
			}
		}
		if pkg == "" || !isDir(pkg) {
			continue // a name without a package directory before it (e.g. in prose)
		}
		out = append(out, [2]string{pkg, cell[m[0]:m[1]]})
	}
	return out
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func funcExists(t *testing.T, pkg, name string) bool {
	files, err := filepath.Glob(filepath.Join(pkg, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^func ` + name + `\(`).Match(b) {
			return true
		}
	}
	return false
}
