package savedmodels

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/internal/devices"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"google.golang.org/protobuf/proto"
)

// Options tune Load. The zero value is ready to use.
type Options struct {
	// MaxBatch is the most images one session run takes (default 32). Concurrent calls
	// are gathered into one run up to this size; a call with more images runs in chunks.
	MaxBatch int
	// MaxDelay is how long the dispatcher waits, after the first waiting request, for
	// more to fill a batch (default 1 ms). Negative: never wait, take only what is queued.
	MaxDelay time.Duration
	// SessionConfig is a serialized tensorflow.ConfigProto for the session (thread
	// pools, GPU memory growth, ...); nil for TensorFlow's defaults.
	SessionConfig []byte
	// DICOMWindow is how PredictBytes and PredictFile turn DICOM values into 8-bit gray
	// (dicom.Window); nil: the window the model was trained with
	// (Metadata.DICOMWindow), else each file's own.
	DICOMWindow *dicom.Window
	// JIT compiles the network with XLA (global_jit_level, added to SessionConfig). Load
	// fails with an error matching devices.ErrNoXLA when the linked TensorFlow lacks XLA.
	JIT bool
}

// Defaults of Options.
const (
	DefaultMaxBatch = 32
	DefaultMaxDelay = time.Millisecond
)

// ErrClosed is returned by calls on a closed Model.
var ErrClosed = errors.New("savedmodels: model is closed")

// Prediction is the model's answer for one image.
type Prediction struct {
	Class         int       // argmax of Probabilities: a class id of Metadata.Classes (0 = normal)
	Decision      int       // class by the model's operating threshold (Metadata.Threshold); Class when it has none
	Label         string    // the class name from the metadata
	Probabilities []float32 // softmax output, one per class of Metadata.Classes (2 for the paper's models)
	Err           error     // this image could not be read; the other fields are zero
}

// Model serves a SavedModel written by savedmodels/export (or adapt, ensemble). It is safe
// for concurrent use: calls from many goroutines are batched into shared session runs by
// one dispatcher goroutine.
type Model struct {
	dir   string
	meta  Metadata
	pre   preprocess.Preprocessor
	saved *heldModel
	input tf.Output // serving_default's image
	probs tf.Output
	class tf.Output
	// serving_gradcam's heatmap and the class it explains; zero for older models.
	heatmap, gradClass tf.Output
	layers             map[string]string // Keras layer -> output tensor, for Grad-CAM of other layers
	gradMu             sync.Mutex
	layerCAMs          map[string]gradcamOps // built on first use

	maxBatch int
	maxDelay time.Duration
	requests chan *request
	quit     chan struct{}
	stopped  chan struct{}

	mu     sync.RWMutex // held for reading while submitting, for writing by Close
	closed bool

	runs atomic.Int64 // session runs so far (tests check the batching)
}

// Load opens the SavedModel in dir (the directory holding saved_model.pb) for serving.
// Its error is a *LoadError that matches ErrNotFound, ErrNotXray or ErrDamaged with
// errors.Is.
//
// It loads the model with graft and holds the session itself (tfgo would hide it until a
// GC finalizer), so Close releases the session and the variables' memory at once.
func Load(dir string, opts Options) (m *Model, err error) {
	mg, meta, err := ReadMetaGraph(dir)
	if err != nil {
		return nil, err
	}
	sig := mg.SignatureDef[SignatureDefault]
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, loadError(dir, ErrDamaged, "%v", r)
		}
	}()
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, loadError(dir, nil, "%v", err)
	}
	saved, err := loadHeld(dir, so)
	if err != nil {
		return nil, loadError(dir, ErrDamaged, "%s; the variables may be damaged: export the model again", smgraph.OneLine(err.Error()))
	}
	m = &Model{dir: dir, meta: meta, pre: meta.Preprocessor(), saved: saved}
	switch {
	case opts.DICOMWindow != nil:
		m.pre.Window = *opts.DICOMWindow
	case meta.DICOMWindow != nil:
		m.pre.Window = *meta.DICOMWindow
	}
	for _, x := range []struct {
		dst  *tf.Output
		name string
	}{
		{&m.input, sig.Inputs[InputImage].GetName()},
		{&m.probs, sig.Outputs[OutputProbabilities].GetName()},
		{&m.class, sig.Outputs[OutputClassID].GetName()},
	} {
		if *x.dst, err = saved.op(x.name); err != nil {
			return nil, loadError(dir, ErrDamaged, "signature %s: %w", SignatureDefault, err)
		}
	}
	if err := m.findGradCAM(mg); err != nil {
		return nil, loadError(dir, ErrDamaged, "signature %s: %w", SignatureGradCAM, err)
	}
	m.maxBatch, m.maxDelay = opts.MaxBatch, opts.MaxDelay
	if m.maxBatch <= 0 {
		m.maxBatch = DefaultMaxBatch
	}
	if m.maxDelay == 0 {
		m.maxDelay = DefaultMaxDelay
	}
	m.requests = make(chan *request, 4*m.maxBatch)
	m.quit = make(chan struct{})
	m.stopped = make(chan struct{})
	go m.dispatch()
	return m, nil
}

// Metadata describes the loaded model.
func (m *Model) Metadata() Metadata {
	meta := m.meta
	meta.Classes = append([]string(nil), m.meta.Classes...)
	return meta
}

// Dir is the directory the model was loaded from.
func (m *Model) Dir() string { return m.dir }

// Close stops the dispatcher once the queued requests are answered and releases the
// TensorFlow session. Calls after Close return ErrClosed; Close is idempotent.
func (m *Model) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.quit)
	<-m.stopped
	// The dispatcher has stopped, and Explain runs hold mu for reading while they run.
	if err := m.saved.close(); err != nil {
		return fmt.Errorf("close %s: %w", m.dir, err)
	}
	return nil
}

// sessionOptions is opts' SessionConfig, with XLA's JIT when opts.JIT; nil for
// TensorFlow's defaults.
func sessionOptions(opts Options) (*tf.SessionOptions, error) {
	if opts.SessionConfig == nil && !opts.JIT {
		return nil, nil
	}
	cfg := new(pb.ConfigProto)
	if err := proto.Unmarshal(opts.SessionConfig, cfg); err != nil {
		return nil, fmt.Errorf("Options.SessionConfig is not a serialized ConfigProto: %v", err)
	}
	if !opts.JIT {
		return &tf.SessionOptions{Config: opts.SessionConfig}, nil
	}
	dev := devices.CPU // the network runs on a GPU when the library has one and the config allows it
	if gpu, _ := devices.GPUBuild(); gpu {
		if n, set := cfg.DeviceCount["GPU"]; !set || n > 0 {
			dev = devices.GPU
		}
	}
	if err := devices.JIT(cfg, dev); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return &tf.SessionOptions{Config: b}, nil
}
