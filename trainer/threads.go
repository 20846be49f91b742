package trainer

import "runtime"

// threadPlan is how many threads a run uses: chosen from the cores unless Config.Threads
// sets them. run.json records it.
type threadPlan struct {
	Cores   int `json:"cores"`            // logical CPUs this process may run on (GOMAXPROCS)
	IntraOp int `json:"intra_op_threads"` // TensorFlow's threads inside one op (a convolution)
	InterOp int `json:"inter_op_threads"` // TensorFlow ops run at once
	Loader  int `json:"loader_workers"`   // goroutines decoding and resizing images
}

// planThreads is the plan for Config.Threads: n > 0 gives TensorFlow n threads of each
// kind and the loader n workers; 0 gives each one thread per core, the fastest choice
// measured (docs/performance.md: on two cores, fewer intra-op or inter-op threads were
// 1.3-2.3x slower per training epoch).
//
// TensorFlow sizes its process-wide CPU thread pools from the first session a process
// creates, so the plan holds where the run's sessions come first, as in xray train.
func planThreads(n int) threadPlan {
	cores := runtime.GOMAXPROCS(0)
	if n > 0 {
		return threadPlan{Cores: cores, IntraOp: n, InterOp: n, Loader: n}
	}
	return threadPlan{Cores: cores, IntraOp: cores, InterOp: cores, Loader: cores}
}
