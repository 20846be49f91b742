package adapt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
)

// Adaptation modes (Options.Mode).
const (
	// Layerwise measures each BatchNormalization layer on the outputs of the layers
	// before it with their statistics already replaced: one pass over the images per
	// level of layers (layers that do not feed each other share a pass).
	Layerwise = "layerwise"
	// Batch is one pass with every layer normalised by its batch's own statistics
	// (BatchNormalization in training mode) while the statistics are accumulated.
	Batch = "batch"
)

// MinImages is the fewest images Run accepts: fewer give statistics too noisy to
// replace a trained model's.
const MinImages = 32

// Kinds of Run and Images failure, for errors.Is.
var (
	// ErrNoBatchNorm: the model has no BatchNormalization layer, so nothing to adapt.
	ErrNoBatchNorm = errors.New("the model has no BatchNormalization layer: there are no statistics to adapt")
	// ErrTooFewImages: fewer than MinImages readable images.
	ErrTooFewImages = fmt.Errorf("too few images to adapt on (at least %d)", MinImages)
	// ErrUnreadableImages is matched by an *UnreadableImagesError.
	ErrUnreadableImages = errors.New("images could not be read")
	// ErrOutputExists: the output directory exists already; Run never replaces one.
	ErrOutputExists = errors.New("output directory exists")
)

// FileError is one input file Run could not read or decode.
type FileError struct {
	Path string
	Err  error
}

// UnreadableImagesError lists every input file that failed; no output is written then,
// so the adaptation never silently covers fewer images than asked.
type UnreadableImagesError struct {
	Failed []FileError
	Total  int // files the source named
}

func (e *UnreadableImagesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d images could not be read", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", f.Path, smgraph.OneLine(f.Err.Error()))
	}
	return b.String() + ": fix or leave out those files"
}

// Is makes an UnreadableImagesError match ErrUnreadableImages.
func (e *UnreadableImagesError) Is(target error) bool { return target == ErrUnreadableImages }

// Unwrap returns the files' errors, so errors.Is finds e.g. fs.ErrNotExist among them.
func (e *UnreadableImagesError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Err
	}
	return out
}

// Options tune Run and Images; the zero value adapts layer by layer with TensorFlow's default
// session and one preprocessing goroutine per core.
type Options struct {
	Mode      string // Layerwise (default) or Batch
	BatchSize int    // images per session run (default 32); in Batch, the batch of the statistics
	// SessionConfig is a serialized tensorflow.ConfigProto (threads, devices); nil for
	// TensorFlow's defaults.
	SessionConfig []byte
	// Workers preprocess images in parallel; 0: one per core (GOMAXPROCS).
	Workers int
	// DICOMWindow is how DICOM images become 8-bit gray; nil: the model's
	// (savedmodels.Metadata.DICOMWindow), else each file's own. A window given here becomes the
	// adapted model's, since its statistics were measured through it.
	DICOMWindow *dicom.Window
	// TempDir holds the preprocessed images between passes (uint8, Size*Size*3 bytes each);
	// "" : inside the output's temporary directory.
	TempDir string
	// Progress receives the tasks TaskRead (files read, total unknown) and
	// TaskStats (images times passes, Note "pass P/N"); nil for none.
	Progress progress.Func
	// Log, when set, gets a line per stage.
	Log *slog.Logger
	// Now stamps savedmodels.Adaptation.Date; nil: time.Now.
	Now func() time.Time
}

// Run's progress tasks (progress.Event.Task).
const (
	TaskRead  = "adapt: read"       // decoding and preprocessing the images, once
	TaskStats = "adapt: statistics" // the passes over the preprocessed images
)

func (o Options) withDefaults() (Options, error) {
	switch o.Mode {
	case "":
		o.Mode = Layerwise
	case Layerwise, Batch:
	default:
		return o, &tfgraph.ConfigError{Field: "Mode", Value: o.Mode, Reason: fmt.Sprintf("unknown adaptation mode: use %s or %s", Layerwise, Batch)}
	}
	if o.BatchSize == 0 {
		o.BatchSize = savedmodels.DefaultMaxBatch
	}
	if o.BatchSize < 1 {
		return o, &tfgraph.ConfigError{Field: "BatchSize", Value: o.BatchSize, Reason: "give 1 or more images per batch"}
	}
	if o.Workers < 0 {
		return o, &tfgraph.ConfigError{Field: "Threads", Value: o.Workers, Reason: "give 0 (one per core) or more"}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Run writes to dst a copy of the SavedModel in src whose BatchNormalization moving
// means and variances are re-estimated from images (AdaBN, Li et al. 2016): population
// statistics over the images and every spatial position, accumulated in float64 while
// the images stream through the network, batch by batch. Every other variable, the
// graph and its signatures are copied unchanged; the metadata gains a savedmodels.Adaptation
// record. The images are paths (a predictstream.Source fits); labels play no part.
//
// dst must not exist: it is built in a temporary directory beside it and renamed into
// place once complete, so an interrupted Run leaves no dst. Errors: src's *savedmodels.LoadError,
// ErrNoBatchNorm, ErrTooFewImages, an *UnreadableImagesError (every failed file),
// ErrOutputExists, a *tfgraph.ConfigError for a bad option, or the context's error.
func Run(ctx context.Context, src, dst string, images iter.Seq2[string, error], opts Options) (*savedmodels.Adaptation, error) {
	return run(ctx, src, dst, fileInputs(images), opts)
}

// run is Run and Images on any source of images.
func run(ctx context.Context, src, dst string, images iter.Seq2[adaptInput, error], opts Options) (ad *savedmodels.Adaptation, err error) {
	defer smgraph.Recovered(&err)
	if opts, err = opts.withDefaults(); err != nil {
		return nil, err
	}
	mg, meta, err := savedmodels.ReadMetaGraph(src)
	if err != nil {
		return nil, err
	}
	if mg.GetSaverDef() == nil {
		return nil, &savedmodels.LoadError{Dir: src, Kind: savedmodels.ErrDamaged, Err: errors.New("no saver in saved_model.pb: export the model again")}
	}
	layers, err := findBatchNorm(mg)
	if err != nil {
		return nil, &savedmodels.LoadError{Dir: src, Kind: savedmodels.ErrNotXray, Err: err}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("adapt %s: %w", src, ErrNoBatchNorm)
	}
	tmp, err := outputTemp(src, dst)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	ad, meta, err = adaptInto(ctx, tmp, src, mg, meta, layers, images, opts)
	if err != nil {
		return nil, err
	}
	if err := writeAdapted(tmp, src, meta); err != nil {
		return nil, fmt.Errorf("adapt %s: write %s: %w", src, dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("adapt %s: %w", src, err)
	}
	return ad, nil
}

// outputTemp checks dst and makes the temporary directory beside it.
func outputTemp(src, dst string) (string, error) {
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("adapt %s: %s: %w: choose a new directory (e.g. the next version number) or remove it", src, dst, ErrOutputExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("adapt %s: %w", src, err)
	}
	parent := filepath.Dir(filepath.Clean(dst))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("adapt %s: %w", src, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("adapt %s: %w", src, err)
	}
	return tmp, nil
}
