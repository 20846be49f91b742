package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/tfgraph"
	"github.com/xraylab/xray/trainer/checkpoint"
	"github.com/xraylab/xray/trainer/cluster"
	"github.com/xraylab/xray/trainer/history"
	"github.com/xraylab/xray/trainer/rundata"
	"github.com/xraylab/xray/trainer/step"
)

// Run trains as cfg says and returns when the epochs are done, early stopping fires,
// the step limit is reached or ctx is cancelled (Ctrl-C: the last finished epoch's
// checkpoint stays; resuming continues from it). Its lines go to cfg.Logger, its
// progress to cfg.Progress.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	return runInspect(ctx, cfg, nil)
}

// runInspect is Run; inspect, when given, sees the finished run before its session
// closes (tests read state that checkpoints do not hold).
func runInspect(ctx context.Context, cfg Config, inspect func(*run) error) (*Result, error) {
	cfg = cfg.withLeverDefaults()
	r, err := setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.restore(); err != nil {
		return nil, err
	}
	if err := step.SyncReplicaStats(r.sess, r.m); err != nil {
		return nil, err
	}
	if err := r.writeRunJSON(r.st, time.Since(r.start), false); err != nil {
		return nil, err
	}
	res := &Result{Out: cfg.Out}
	if err := r.epochs(ctx, res); err != nil {
		return nil, err
	}
	res, err = r.finish(ctx, res)
	if err == nil && inspect != nil {
		err = inspect(r)
	}
	return res, err
}

// run is one training run in progress: its data, graph, session and loop state.
type run struct {
	cfg     Config
	log     logger
	start   time.Time
	ckptDir string
	data    *rundata.Data
	m       *tfgraph.Model
	g       *step.Graph
	sess    *tf.Session
	vars    []*tfgraph.Variable // model variables, then optimizer slots
	devs    []devices.Device    // the session's devices
	threads devices.ThreadPlan  // the session's threads, read back from its configuration
	lv      *levers
	st      checkpoint.State
	cluster *cluster.Cluster // multi-machine run (trainer/cluster); nil in one process
}

// setup validates cfg, prepares the run directory, opens the data and builds the
// training graph and its session.
func setup(ctx context.Context, cfg Config) (r *run, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r = &run{cfg: cfg, log: newLogger(cfg.Logger), start: time.Now(), ckptDir: filepath.Join(cfg.Out, "checkpoints")}
	if err := checkDevice(cfg, r.log); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.ckptDir, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if !cfg.Resume {
		if _, err := os.Stat(filepath.Join(r.ckptDir, checkpoint.Name(1))); err == nil {
			return nil, fmt.Errorf("%s %w", cfg.Out, ErrRunExists)
		}
	}
	// Every failure below returns a nil *run: close what was opened through a copy.
	opened := r
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	if r.data, err = openData(ctx, cfg, r.log); err != nil {
		return nil, err
	}
	if n := r.data.Classes.Len(); n != 2 && cfg.Threshold != "" {
		return nil, &ConfigError{Field: "Threshold", Value: cfg.Threshold, Reason: fmt.Sprintf("%v: this run has %d classes (%s)", decision.ErrNotBinary, n, r.data.Classes)}
	}
	replicas, opts, err := r.sessionOptions()
	if err != nil {
		return nil, err
	}
	if r.m, err = tfgraph.BuildReplicated(tfgraph.Config{Arch: cfg.Arch, InputSize: cfg.InputSize, Pool: cfg.Pool, Seed: cfg.Seed, Classes: r.data.Classes.Len(), Precision: cfg.Precision, BatchNorm: cfg.BatchNorm}, replicas); err != nil {
		return nil, err
	}
	cw, err := classWeights(cfg.ClassWeight, r.data.ClassCounts)
	if err != nil {
		return nil, err
	}
	build := step.Build
	if len(replicas) > 0 {
		build = step.BuildReplicated
	}
	r.g, err = build(r.m, step.Options{Optimizer: cfg.Optimizer, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay,
		ClassWeights: cw, LabelSmoothing: cfg.LabelSmoothing, FreezeBase: cfg.FreezeBase, ConstLR: cfg.constLR(),
		LossScale: cfg.Precision == tfgraph.PrecisionMixedFloat16})
	if err != nil {
		return nil, err
	}
	if r.lv, err = newLevers(cfg, r.data.Train.Batches()); err != nil {
		return nil, err
	}
	if r.threads, err = devices.SessionThreads(opts.Config, devices.PlanThreads(cfg.Threads)); err != nil {
		return nil, err
	}
	if r.sess, err = tf.NewSession(r.m.Graph, opts); err != nil {
		return nil, fmt.Errorf("start TensorFlow session: %w", err)
	}
	if err := r.describeDevices(); err != nil {
		return nil, err
	}
	if err := checkReplicaDevices(cfg.Devices, replicas, r.devs); err != nil {
		return nil, err
	}
	if len(replicas) > 0 {
		r.log.printf("data parallel: %d replicas (%s), %v images each of a batch of %d", len(replicas), strings.Join(replicas, ", "), step.Shares(cfg.BatchSize, len(replicas)), cfg.BatchSize)
	}
	r.vars = append(append([]*tfgraph.Variable(nil), r.m.Variables...), r.g.Slots...)
	r.st = checkpoint.State{Seed: cfg.Seed, BestValLoss: math.Inf(1), ManifestHash: r.data.ManifestHash, Arch: cfg.Arch}
	return r, nil
}

func (r *run) close() {
	if r.sess != nil {
		r.sess.Close()
	}
	if r.data != nil {
		r.data.Close()
	}
	if r.lv != nil {
		if err := r.lv.Close(); err != nil {
			r.log.warnf("%v", err)
		}
	}
}

// restore loads the newest checkpoint when resuming, and otherwise (or when there is
// none yet) initialises the variables and loads the starting weights.
func (r *run) restore() error {
	warn := func(w string) { r.log.warnf("%s", w) }
	if r.cfg.Resume {
		path, cst, tensors, ok, err := checkpoint.Latest(r.ckptDir, warn)
		if err != nil {
			return err
		}
		if ok {
			if cst.ManifestHash != r.st.ManifestHash || cst.Arch != r.cfg.Arch {
				return fmt.Errorf("resume: %s was trained as %s on manifest %.12s, not %s on %.12s: use the run's own settings or another run directory",
					path, cst.Arch, cst.ManifestHash, r.cfg.Arch, r.st.ManifestHash)
			}
			if err := tfgraph.SetValues(r.sess, r.vars, step.WithoutLossScale(tensors, r.vars)); err != nil {
				return fmt.Errorf("resume from %s: %w", path, err)
			}
			r.st = cst
			r.initPlateau()
			r.log.printf("resuming from %s (epoch %d, step %d)", filepath.Base(path), cst.Epoch, cst.Step)
			return checkpoint.RepairBest(r.ckptDir, cst, warn)
		}
		r.log.printf("resume: no checkpoint in %s yet; starting afresh", r.ckptDir)
	}
	r.initPlateau()
	if err := tfgraph.Initialize(r.sess, r.vars); err != nil {
		return err
	}
	return loadInitialWeights(r.sess, r.m, r.cfg, r.log)
}

// epochs runs the remaining epochs, recording in res why it stopped early if it did.
func (r *run) epochs(ctx context.Context, res *Result) error {
	cfg := r.cfg
	for epoch := r.st.Epoch + 1; epoch <= cfg.Epochs; epoch++ {
		stepsDone, err := r.epoch(ctx, epoch)
		if errors.Is(err, context.Canceled) {
			res.Interrupted = true
			return nil
		}
		if err != nil {
			return err
		}
		if stepsDone {
			r.log.printf("stopping: step limit %d reached", cfg.MaxSteps)
			return nil
		}
		if cfg.EarlyStopping > 0 && r.st.BadEpochs >= cfg.EarlyStopping {
			r.log.printf("early stopping: no better %s for %d epochs", cfg.Monitor, r.st.BadEpochs)
			res.StoppedEarly = true
			return nil
		}
	}
	return nil
}

// epoch trains one epoch, validates it, saves its checkpoint and prints its line.
// stepsDone reports that the step limit was reached.
func (r *run) epoch(ctx context.Context, epoch int) (stepsDone bool, err error) {
	t0 := time.Now()
	tr, stepsDone, err := trainEpoch(ctx, r.sess, r.g, r.m, r.data, r.cfg, epoch, &r.st, r.lv)
	if err != nil {
		return false, r.lost(err)
	}
	va, auc, err := evaluateSplit(ctx, r.sess, r.g, r.m, r.data.Val, r.cfg, epoch)
	if err != nil {
		return false, r.lost(err)
	}
	es := EpochStats{Epoch: epoch, Loss: tr.Loss(), Accuracy: tr.Accuracy(), ValLoss: va.Loss(), ValAccuracy: va.Accuracy(),
		ValAUC: auc, LR: tr.LR, Seconds: time.Since(t0).Seconds()}
	st := &r.st
	improved := improves(r.cfg.Monitor, es, *st)
	st.History = append(st.History, es)
	st.Epoch = epoch
	plateauMsg := r.lv.endEpoch(r.cfg, st, es)
	if improved {
		st.BestValLoss, st.BestEpoch, st.BadEpochs = es.ValLoss, epoch, 0
	} else {
		st.BadEpochs++
	}
	if err := saveEpoch(r.sess, r.vars, r.cfg, *st, improved); err != nil {
		return false, err
	}
	if err := r.lv.tb.Epoch(es); err != nil {
		return false, err
	}
	r.log.printf("epoch %d/%d  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  val_auc %.4f  lr %.4g  %.1fs%s",
		epoch, r.cfg.Epochs, es.Loss, es.Accuracy, es.ValLoss, es.ValAccuracy, es.ValAUC, es.LR, es.Seconds, map[bool]string{true: "  (best)"}[improved])
	if plateauMsg != "" {
		r.log.printf("%s", plateauMsg)
	}
	return stepsDone, nil
}

// finish fills res from the loop state and, unless the run was interrupted before
// finishing or finished no epoch, exports the SavedModels; run.json is written last.
// A run whose every epoch has a NaN monitored value (a diverged run) exports nothing
// and fails with ErrNoBestEpoch.
func (r *run) finish(ctx context.Context, res *Result) (*Result, error) {
	st := r.st
	res.Epochs, res.Steps, res.History = st.Epoch, st.Step, st.History
	res.BestEpoch, res.BestValLoss = st.BestEpoch, st.BestValLoss
	if res.Interrupted || st.Epoch == 0 {
		res.Duration = time.Since(r.start)
		return res, r.writeRunJSON(st, res.Duration, false)
	}
	if st.BestEpoch == 0 {
		if err := r.writeRunJSON(st, time.Since(r.start), false); err != nil {
			return nil, err
		}
		return nil, noBestEpoch(r.cfg, st)
	}
	choose := func() (*decision.Threshold, error) { return r.operatingPoint(ctx) }
	if err := exportModels(r.sess, r.m, r.vars, r.cfg, r.data.Classes, st, res, r.log, choose); err != nil {
		return nil, err
	}
	res.Duration = time.Since(r.start)
	return res, r.writeRunJSON(st, res.Duration, true)
}

// ErrNoBestEpoch: no epoch of the run has a usable monitored value, so there is no
// model to export.
var ErrNoBestEpoch = errors.New("no epoch to export")

// noBestEpoch explains ErrNoBestEpoch: a diverged run (non-finite loss) or a monitored
// metric that was never defined.
func noBestEpoch(cfg Config, st checkpoint.State) error {
	last := st.History[len(st.History)-1]
	if math.IsNaN(last.Loss) || math.IsInf(last.Loss, 0) {
		return fmt.Errorf("%w: training diverged (epoch %d loss %v), and no epoch has a finite %s; nothing exported: lower the learning rate",
			ErrNoBestEpoch, last.Epoch, last.Loss, cfg.Monitor)
	}
	return fmt.Errorf("%w: no epoch has a finite %s; nothing exported", ErrNoBestEpoch, cfg.Monitor)
}

// saveEpoch writes the epoch's checkpoint (and best.ckpt when it improved), history.csv
// and curves.png. The checkpoint goes first: it is what --resume trusts.
func saveEpoch(sess *tf.Session, vars []*tfgraph.Variable, cfg Config, st checkpoint.State, improved bool) error {
	values, err := tfgraph.Values(sess, vars)
	if err != nil {
		return err
	}
	if err := checkpoint.Save(filepath.Join(cfg.Out, "checkpoints"), st, values, improved); err != nil {
		return err
	}
	if err := history.WriteCSV(filepath.Join(cfg.Out, "history.csv"), st.History); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := history.WriteCurves(filepath.Join(cfg.Out, "curves.png"), cfg.Arch, st.History); err != nil {
		return fmt.Errorf("write curves: %w", err)
	}
	return nil
}

// runJSON is OUT/run.json: how the run was made and how long it took.
type runJSON struct {
	Config         Config             `json:"config"`
	Xray           string             `json:"xray_version"`
	TensorFlow     string             `json:"tensorflow_version"`
	Go             string             `json:"go_version"`
	Arch           string             `json:"arch"`
	ManifestSHA256 string             `json:"manifest_sha256"`
	TrainImages    int                `json:"train_images"`
	ValImages      int                `json:"val_images"`
	EpochsDone     int                `json:"epochs_done"`
	Steps          int64              `json:"steps"`
	BestEpoch      int                `json:"best_epoch"`
	BestValLoss    *float64           `json:"best_val_loss,omitempty"`
	Seconds        float64            `json:"seconds"`
	Finished       bool               `json:"finished"`
	History        []EpochStats       `json:"history"`
	Threads        devices.ThreadPlan `json:"threads"` // the session's, read back from its configuration
	devices.Record
}

// writeRunJSON writes OUT/run.json for the loop state st after d of work.
func (r *run) writeRunJSON(st checkpoint.State, d time.Duration, finished bool) error {
	cfg, data := r.cfg, r.data
	rj := runJSON{Config: cfg, Xray: buildinfo.Version, TensorFlow: buildinfo.TensorFlowVersion(), Go: runtime.Version(),
		Arch: cfg.Arch, ManifestSHA256: data.ManifestHash, TrainImages: data.Train.Len(), ValImages: data.Val.Len(),
		EpochsDone: st.Epoch, Steps: st.Step, BestEpoch: st.BestEpoch, Seconds: d.Seconds(), Finished: finished, History: st.History,
		Threads: r.threads, Record: devices.NewRecord(r.devs)}
	if !math.IsInf(st.BestValLoss, 0) {
		rj.BestValLoss = &st.BestValLoss
	}
	b, err := json.MarshalIndent(rj, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(cfg.Out, "run.json"), append(b, '\n'))
}
