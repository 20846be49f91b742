package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/xraylab/xray/internal/atomicfile"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/tfgraph"
)

// Run trains as cfg says and returns when the epochs are done, early stopping fires,
// --max-steps is reached or ctx is cancelled (Ctrl-C: the last finished epoch's
// checkpoint stays; --resume continues from it). Progress goes to stdout.
func Run(ctx context.Context, cfg Config, stdout io.Writer) (*Result, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := logger{w: stdout, quiet: cfg.Quiet}
	ckptDir := filepath.Join(cfg.Out, "checkpoints")
	if err := os.MkdirAll(ckptDir, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if !cfg.Resume {
		if _, err := os.Stat(filepath.Join(ckptDir, checkpointName(1))); err == nil {
			return nil, fmt.Errorf("%s already holds a training run: pass --resume to continue it, or choose another --out", cfg.Out)
		}
	}

	data, err := openData(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer data.Close()

	m, err := tfgraph.Build(tfgraph.Config{Arch: cfg.Arch, InputSize: cfg.InputSize, Pool: cfg.Pool, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	g, err := buildSGD(m, cfg.LearningRate, cfg.Momentum, cfg.FreezeBase)
	if err != nil {
		return nil, err
	}
	opts, err := SessionOptions(cfg.Device, cfg.Threads)
	if err != nil {
		return nil, err
	}
	sess, err := tf.NewSession(m.Graph, opts)
	if err != nil {
		return nil, fmt.Errorf("start TensorFlow session: %w", err)
	}
	defer sess.Close()
	vars := append(append([]*tfgraph.Variable(nil), m.Variables...), g.Slots...)

	st := State{Seed: cfg.Seed, BestValLoss: math.Inf(1), ManifestHash: data.ManifestHash, Arch: cfg.Arch}
	resumed := false
	if cfg.Resume {
		path, cst, tensors, ok, err := latestCheckpoint(ckptDir, func(w string) { log.printf("warning: %s", w) })
		if err != nil {
			return nil, err
		}
		if ok {
			if cst.ManifestHash != data.ManifestHash || cst.Arch != cfg.Arch {
				return nil, fmt.Errorf("--resume: %s was trained as %s on manifest %.12s, not %s on %.12s: use the run's own flags or another --out",
					path, cst.Arch, cst.ManifestHash, cfg.Arch, data.ManifestHash)
			}
			if err := tfgraph.SetValues(sess, vars, tensors); err != nil {
				return nil, fmt.Errorf("--resume %s: %w", path, err)
			}
			st, resumed = cst, true
			log.printf("resuming from %s (epoch %d, step %d)", filepath.Base(path), st.Epoch, st.Step)
			if err := repairBest(ckptDir, st, func(w string) { log.printf("warning: %s", w) }); err != nil {
				return nil, err
			}
		} else {
			log.printf("--resume: no checkpoint in %s yet; starting afresh", ckptDir)
		}
	}
	if !resumed {
		if err := tfgraph.Initialize(sess, vars); err != nil {
			return nil, err
		}
		if err := loadInitialWeights(sess, m, cfg, log); err != nil {
			return nil, err
		}
	}
	if err := writeRunJSON(cfg, data, st, time.Since(start), false); err != nil {
		return nil, err
	}

	res := &Result{Out: cfg.Out}
	for epoch := st.Epoch + 1; epoch <= cfg.Epochs; epoch++ {
		t0 := time.Now()
		tr, stepsDone, err := trainEpoch(ctx, sess, g, m, data, cfg, epoch, &st)
		if errors.Is(err, context.Canceled) {
			res.Interrupted = true
			break
		}
		if err != nil {
			return nil, err
		}
		va, err := evaluateSplit(ctx, sess, g, m, data.Val, cfg, epoch)
		if errors.Is(err, context.Canceled) {
			res.Interrupted = true
			break
		}
		if err != nil {
			return nil, err
		}
		es := EpochStats{Epoch: epoch, Loss: tr.loss(), Accuracy: tr.accuracy(), ValLoss: va.loss(), ValAccuracy: va.accuracy(), Seconds: time.Since(t0).Seconds()}
		st.History = append(st.History, es)
		st.Epoch = epoch
		improved := es.ValLoss < st.BestValLoss
		if improved {
			st.BestValLoss, st.BestEpoch, st.BadEpochs = es.ValLoss, epoch, 0
		} else {
			st.BadEpochs++
		}
		if err := saveEpoch(sess, vars, cfg, st, improved); err != nil {
			return nil, err
		}
		log.printf("epoch %d/%d  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  %.1fs%s",
			epoch, cfg.Epochs, es.Loss, es.Accuracy, es.ValLoss, es.ValAccuracy, es.Seconds, map[bool]string{true: "  (best)"}[improved])
		if stepsDone {
			log.printf("stopping: --max-steps %d reached", cfg.MaxSteps)
			break
		}
		if cfg.EarlyStopping > 0 && st.BadEpochs >= cfg.EarlyStopping {
			log.printf("early stopping: no better validation loss for %d epochs", st.BadEpochs)
			res.StoppedEarly = true
			break
		}
	}
	res.Epochs, res.Steps, res.History = st.Epoch, st.Step, st.History
	res.BestEpoch, res.BestValLoss = st.BestEpoch, st.BestValLoss
	if res.Interrupted || st.Epoch == 0 {
		res.Duration = time.Since(start)
		return res, writeRunJSON(cfg, data, st, res.Duration, false)
	}
	if err := exportModels(sess, m, vars, cfg, st, res, log); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, writeRunJSON(cfg, data, st, res.Duration, true)
}

// saveEpoch writes the epoch's checkpoint (and best.ckpt when it improved), history.csv
// and curves.png. The checkpoint goes first: it is what --resume trusts.
func saveEpoch(sess *tf.Session, vars []*tfgraph.Variable, cfg Config, st State, improved bool) error {
	values, err := tfgraph.Values(sess, vars)
	if err != nil {
		return err
	}
	dir := filepath.Join(cfg.Out, "checkpoints")
	if err := writeCheckpoint(filepath.Join(dir, checkpointName(st.Epoch)), st, values); err != nil {
		return err
	}
	if improved {
		if err := writeCheckpoint(filepath.Join(dir, bestName), st, values); err != nil {
			return err
		}
	}
	// Keep the last two epoch checkpoints: one may be cut short by a kill.
	if old := filepath.Join(dir, checkpointName(st.Epoch-2)); st.Epoch > 2 {
		os.Remove(old)
	}
	if err := writeHistoryCSV(filepath.Join(cfg.Out, "history.csv"), st.History); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := writeCurves(filepath.Join(cfg.Out, "curves.png"), cfg.Arch, st.History); err != nil {
		return fmt.Errorf("write curves: %w", err)
	}
	return nil
}

// runJSON is OUT/run.json: how the run was made and how long it took.
type runJSON struct {
	Config         Config       `json:"config"`
	Xray           string       `json:"xray_version"`
	TensorFlow     string       `json:"tensorflow_version"`
	Go             string       `json:"go_version"`
	Arch           string       `json:"arch"`
	ManifestSHA256 string       `json:"manifest_sha256"`
	TrainImages    int          `json:"train_images"`
	ValImages      int          `json:"val_images"`
	EpochsDone     int          `json:"epochs_done"`
	Steps          int64        `json:"steps"`
	BestEpoch      int          `json:"best_epoch"`
	BestValLoss    *float64     `json:"best_val_loss,omitempty"`
	Seconds        float64      `json:"seconds"`
	Finished       bool         `json:"finished"`
	History        []EpochStats `json:"history"`
}

func writeRunJSON(cfg Config, data *trainData, st State, d time.Duration, finished bool) error {
	r := runJSON{Config: cfg, Xray: buildinfo.Version, TensorFlow: buildinfo.TensorFlowVersion(), Go: runtime.Version(),
		Arch: cfg.Arch, ManifestSHA256: data.ManifestHash, TrainImages: data.Train.Len(), ValImages: data.Val.Len(),
		EpochsDone: st.Epoch, Steps: st.Step, BestEpoch: st.BestEpoch, Seconds: d.Seconds(), Finished: finished, History: st.History}
	if !math.IsInf(st.BestValLoss, 0) {
		r.BestValLoss = &st.BestValLoss
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(cfg.Out, "run.json"), append(b, '\n'))
}
