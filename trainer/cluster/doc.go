// Package cluster is the multi-machine side of training (docs/distributed.md): the
// cluster layout from TF_CONFIG (or a cluster JSON and a task), TensorFlow's gRPC server
// for this task, the chief's wait for its workers, and the errors a cluster run ends
// with: ClusterError (errors.Is ErrCluster; ErrNoWorker when a worker never answers),
// WorkerLostError (a worker stopped answering during training) and ErrStepTimeout.
//
// It builds no graph and reads no data: trainer places the replicated training step on
// every task's devices (JobDevice) and drives it from the chief; a worker only serves
// (trainer.ServeWorker).
//
//	c, err := cluster.ParseTFConfig(os.Getenv("TF_CONFIG"))
//	cfg.Cluster = c // trainer.Config
package cluster
