// Package parallel runs the iterations of a loop on several goroutines: one
// implementation for the packages that preprocess batches of images side by side.
package parallel

import (
	"runtime"
	"sync"
)

// For runs f(0..n-1) on workers goroutines (0: GOMAXPROCS), inline for one. f must be
// safe to call concurrently for distinct i.
func For(n, workers int, f func(i int)) {
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
