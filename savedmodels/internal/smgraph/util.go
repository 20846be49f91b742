package smgraph

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
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

// ParallelN runs f(0..n-1) on workers goroutines (0: GOMAXPROCS), inline for one.
func ParallelN(n, workers int, f func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(n, workers)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
