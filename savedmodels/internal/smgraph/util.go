package smgraph

import (
	"fmt"
	"strings"
)

// OneLine is the first line of s, trimmed: TensorFlow's errors carry stack-like detail
// below it.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Recovered turns a binding panic into an error, so nothing panics across this
// package's boundary (defer it in each exported function that calls the binding).
func Recovered(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(error); ok {
			*err = e
		} else {
			*err = fmt.Errorf("%v", r)
		}
	}
}
