// Package trainer runs the paper's training: SGD (learning rate 0.001, batch 20, 100
// epochs) on categorical cross-entropy, the update computed in the TensorFlow graph and
// the loop driven from Go, plus the levers beside the paper's recipe (Adam/AdamW, learning
// rate schedules, class weights, label smoothing, augmentation, mixed precision, data
// parallel replicas, several machines through trainer/cluster).
//
// Run is the loop; its parts are packages below it: trainer/step (the training step's
// graph), trainer/rundata (the manifest and loaders), trainer/schedule (learning
// rates), trainer/checkpoint (checkpoint files), trainer/history (history.csv, curves,
// TensorBoard) and trainer/cluster (several machines). Callers need only this package.
//
// # Contract
//
// Run(ctx, cfg) validates cfg (DefaultConfig is the paper's; Robust and Demo are
// the other presets), splits the data into OUT/manifest.csv unless a manifest is given,
// builds the model (tfgraph), loads the initial weights, and trains epoch by epoch. A run
// directory (cfg.Out) is the unit of work, every file written atomically:
//
//	run.json                the settings, data fingerprint, devices, threads and state (finished or not)
//	manifest.csv            the split (when Run made it)
//	history.csv, curves.png per-epoch loss, accuracy and AUC on train and validation
//	checkpoints/            epoch-NNNN.ckpt (the last ones) and best.ckpt (by cfg.Monitor)
//	savedmodel/             the best epoch as a SavedModel, with the operating threshold chosen on validation
//	savedmodel-last/        the last epoch, when it is not the best
//	cfg.TensorBoard         TensorBoard event files, when set
//
// Run returns when the epochs are done, early stopping fires, cfg.MaxSteps is reached or
// ctx ends. A cancelled ctx (Ctrl-C) is not an error: Result.Interrupted is set, the last
// finished epoch's checkpoint stays and cfg.Resume continues from it.
//
// What the run says goes to cfg.Logger (a *slog.Logger; nil: nothing): one Info record a
// line for a person, the whole line its message (the devices, the split and its table,
// "epoch 3/100  loss 0.2134  accuracy ...  (best)", the exported models), and Warn records
// for what went wrong but did not stop the run. progress.Lines prints them as xray train
// does. The numbers are in Result.History and history.csv. cfg.Progress receives each
// step's progress (nil: none). Nothing is printed, the process is never exited, and
// TensorFlow's once-per-process lines are spent before the first session
// (internal/tflog). ServeWorker(ctx, cfg) reports the same way.
//
// # Errors
//
// Errors are typed for errors.Is/As: an invalid setting is a *ConfigError naming the
// Config field (errors.Is ErrInvalidConfig); ErrRunExists when cfg.Out holds a run and
// cfg.Resume is not set; ErrNoBestEpoch when no epoch has a finite monitored metric
// (a diverged run: nothing is exported); cluster.ErrCluster, cluster.WorkerLostError and
// cluster.ErrStepTimeout from a multi-machine run; devices.ErrNoGPU when a GPU was asked
// for and none is there; dataset errors (ErrClasses, ErrChanged) from the data.
//
// # Usage
//
//	cfg := trainer.DefaultConfig()
//	cfg.Data, cfg.Out = "../shared/data/kermany-224", "runs/mobilenet"
//	cfg.Logger = progress.Lines(os.Stdout, "") // or slog.Default(), or nil
//	res, err := trainer.Run(ctx, cfg)
//	// res.SavedModel is ready for savedmodels.Load, predict.Split (evaluator/predict) or xray serve
package trainer
