package ensemble

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/internal/buildinfo"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
)

// Arch is savedmodels.Metadata.Arch of a SavedModel Write wrote.
const Arch = "ensemble"

// Options tune Write; the zero value averages the members with equal weights,
// without test-time augmentation, deciding by argmax.
type Options struct {
	// Weights of the members, in order (nil: equal). Non-negative, not all zero; they are
	// normalized to sum to 1.
	Weights []float64
	// TTA is the number of test-time augmentation views (TTAViews) each member averages;
	// 0 or 1: none.
	TTA int
	// Threshold, when set, chooses the operating threshold of the finished ensemble before
	// it is moved into place: it gets the temporary directory, which savedmodels.Load
	// opens. nil (or a nil threshold): argmax.
	Threshold func(ctx context.Context, dir string) (*decision.Threshold, error)
}

// Write writes, atomically (a temporary directory renamed into place), one SavedModel
// in dir whose signatures return the weighted mean of the probabilities of the SavedModels
// in members (and of their Grad-CAM heatmaps), each member keeping its own preprocessing
// of serving_bytes' files and averaging opts.TTA views. See docs/ensemble.md. Bad
// settings are *tfgraph.ConfigError (Field Members, Weights or TTA); an unreadable member
// is a *savedmodels.LoadError, as savedmodels.Load's.
func Write(ctx context.Context, dir string, members []string, opts Options) (err error) {
	fail := func(err error) error { return fmt.Errorf("ensemble %s: %w", dir, err) }
	defer func() {
		if r := recover(); r != nil {
			err = fail(fmt.Errorf("%v", r))
		}
	}()
	weights, err := ensembleWeights(len(members), opts)
	if err != nil {
		return err
	}
	mbs, meta, err := readMembers(members, weights)
	if err != nil {
		return err
	}
	meta.TTA = max(opts.TTA, 1)
	e, err := buildEnsemble(mbs, weights, meta)
	if err != nil {
		return fail(tfgraph.CleanError(err))
	}
	err = smgraph.WriteDirAtomic(dir, func(tmp string) error {
		if err := e.write(tmp, mbs, meta); err != nil {
			return tfgraph.CleanError(err)
		}
		if opts.Threshold != nil {
			if meta.Threshold, err = opts.Threshold(ctx, tmp); err != nil {
				return err
			}
			if err := meta.ValidateThreshold(); err != nil {
				return err
			}
			if err := e.writeMeta(tmp, meta); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

// ensembleWeights checks opts and returns the normalized weights.
func ensembleWeights(n int, opts Options) ([]float64, error) {
	if n == 0 {
		return nil, &tfgraph.ConfigError{Field: "Members", Reason: "missing: give at least one SavedModel"}
	}
	if opts.TTA < 0 || opts.TTA > len(TTAViews) {
		return nil, &tfgraph.ConfigError{Field: "TTA", Value: opts.TTA, Reason: fmt.Sprintf("is not a number of views from 1 to %d", len(TTAViews))}
	}
	w := opts.Weights
	if w == nil {
		w = slices.Repeat([]float64{1}, n)
	}
	if len(w) != n {
		return nil, &tfgraph.ConfigError{Field: "Weights", Value: w, Reason: fmt.Sprintf("gives %d weights for %d members: give one per member", len(w), n)}
	}
	sum := 0.0
	for _, x := range w {
		if !(x >= 0) || math.IsInf(x, 1) {
			return nil, &tfgraph.ConfigError{Field: "Weights", Value: w, Reason: "has a negative or non-finite weight: weights are >= 0"}
		}
		sum += x
	}
	if sum == 0 {
		return nil, &tfgraph.ConfigError{Field: "Weights", Value: w, Reason: "are all zero: give at least one positive weight"}
	}
	out := make([]float64, n)
	for i, x := range w {
		out[i] = x / sum
	}
	return out, nil
}

// readMembers reads and renames every member, checks that their classes agree, and
// returns the ensemble's metadata: the input size and scaling (and DICOM window) of the
// first member with the largest input, the members' classes.
func readMembers(dirs []string, weights []float64) ([]*member, savedmodels.Metadata, error) {
	mbs := make([]*member, len(dirs))
	meta := savedmodels.Metadata{Arch: Arch}
	for i, d := range dirs {
		mg, mm, err := savedmodels.ReadMetaGraph(d)
		if err != nil {
			return nil, meta, fmt.Errorf("ensemble member %d: %w", i+1, err)
		}
		if i > 0 && !slices.Equal(mm.Classes, mbs[0].meta.Classes) {
			return nil, meta, &tfgraph.ConfigError{Field: "Members", Value: d, Reason: fmt.Sprintf("has classes %q, the first member %q: members must have the same classes in the same order", mm.Classes, mbs[0].meta.Classes)}
		}
		if mbs[i], err = renamedMember(i, d, mg, mm); err != nil {
			return nil, meta, fmt.Errorf("ensemble member %d: %w", i+1, err)
		}
		digest, err := savedmodels.Digest(d)
		if err != nil {
			return nil, meta, fmt.Errorf("ensemble member %d: %w", i+1, err)
		}
		meta.Members = append(meta.Members, savedmodels.EnsembleMember{Dir: d, Digest: digest, Arch: mm.Arch, InputSize: mm.InputSize,
			Preprocessing: mm.Preprocessing, RunID: mm.RunID, Weight: weights[i]})
		if mm.InputSize > meta.InputSize {
			meta.InputSize, meta.Preprocessing, meta.DICOMWindow = mm.InputSize, mm.Preprocessing, mm.DICOMWindow
		}
	}
	meta.Classes = slices.Clone(mbs[0].meta.Classes)
	meta.XrayVersion, meta.TFVersion = buildinfo.Version, buildinfo.TensorFlowVersion()
	// serving_gradcam averages the members' own: it is their method when they share one
	meta.GradCAM = mbs[0].meta.GradCAM
	for _, mb := range mbs {
		if mb.meta.GradCAM != meta.GradCAM {
			meta.GradCAM = "mixed"
		}
	}
	return mbs, meta, nil
}

// restoreMembers runs every member's restore op in sess, reading its own checkpoint.
func restoreMembers(g *tf.Graph, sess *tf.Session, mbs []*member) error {
	for i, mb := range mbs {
		fname, err := smgraph.TensorByName(g, mb.saver.FilenameTensorName)
		if err != nil {
			return err
		}
		restore := g.Operation(mb.saver.RestoreOpName)
		if restore == nil {
			return fmt.Errorf("member %d: no restore op %s", i+1, mb.saver.RestoreOpName)
		}
		prefix, err := tf.NewTensor(filepath.Join(mb.dir, "variables", "variables"))
		if err != nil {
			return err
		}
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{fname: prefix}, nil, []*tf.Operation{restore}); err != nil {
			return fmt.Errorf("ensemble member %d (%s): restore its variables: %s", i+1, mb.dir, smgraph.OneLine(err.Error()))
		}
	}
	return nil
}
