// Package step is the training step as TensorFlow graph ops added to a model's graph
// (tfgraph.Model): Keras 3's categorical cross-entropy (label smoothing, class weights)
// and accuracy, the gradients, and the optimizer update of the resource variables
// (SGD with momentum, Adam, AdamW, each as Keras 3 defines it), with Keras's dynamic
// loss scaling under mixed_float16 and synchronous data parallelism over replicas
// (tf.distribute's split of the batch, the gradients summed into one update).
//
// # Contract
//
// Build (one device) and BuildReplicated (m built by tfgraph.BuildReplicated) add the
// ops once; they fail only when the graph cannot be built (an error naming the op).
// Graph.Train runs one update and returns the batch's loss and correct predictions
// computed before it; Graph.EvalBatch (one batch) and Graph.Evaluate (a split: loss,
// accuracy, ROC AUC) run inference mode, never changing a variable.
// The learning rate and the update number are fed per step, so a schedule needs no
// rebuild. Graph.Slots are the optimizer's state (momentum, Adam's moments, the loss
// scale), which a checkpoint must carry beside the model's variables for a resumed run
// to continue exactly. The package reads no files, starts no session and logs nothing.
//
// # Usage
//
//	m, _ := tfgraph.Build(cfg)
//	g, err := step.Build(m, step.Options{Optimizer: step.OptimizerSGD, Momentum: 0.9})
//	sess, _ := tf.NewSession(m.Graph, nil)
//	_ = tfgraph.Initialize(sess, append(m.Variables, g.Slots...))
//	loss, correct, err := g.Train(sess, m, batch, 224, 0.001, 1)
package step
