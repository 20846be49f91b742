package savedmodels

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/preprocess"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
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
	Class         int        // argmax of Probabilities: 0 = normal, 1 = pneumonia
	Decision      int        // class by the model's operating threshold (Metadata.Threshold); Class when it has none
	Label         string     // the class name from the metadata
	Probabilities [2]float32 // softmax output, by class
	Err           error      // this image could not be read; the other fields are zero
}

// Model serves a SavedModel written by Export. It is safe for concurrent use: calls from
// many goroutines are batched into shared session runs by one dispatcher goroutine.
type Model struct {
	dir   string
	meta  Metadata
	pre   preprocess.Preprocessor
	saved *tfgoModel
	input tf.Output // serving_default's image
	probs tf.Output
	class tf.Output

	maxBatch int
	maxDelay time.Duration
	requests chan *request
	quit     chan struct{}
	stopped  chan struct{}

	mu     sync.RWMutex // held for reading while submitting, for writing by Close
	closed bool

	runs atomic.Int64 // session runs so far (tests check the batching)
}

// request is one Predict call's images, waiting for the dispatcher.
type request struct {
	ctx    context.Context
	pixels [][]float32 // preprocessed, one per image
	probs  [][2]float32
	class  []int
	err    error
	done   chan struct{}
}

// Load opens the SavedModel in dir (the directory holding saved_model.pb) for serving.
//
// It loads and runs the model with tfgo (over graft, through the shim), whose panics are
// recovered here and returned as errors. tfgo keeps its session private and closes it in
// a finalizer, so Close drops the model and lets that finalizer release the session.
func Load(dir string, opts Options) (m *Model, err error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("load SavedModel %s: %s", dir, oneLine(fmt.Sprintf(format, a...)))
	}
	sig, meta, err := readSavedModel(dir)
	if err != nil {
		return nil, fail("%v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fail("%v", r)
		}
	}()
	var so *tf.SessionOptions
	if opts.SessionConfig != nil {
		so = &tf.SessionOptions{Config: opts.SessionConfig}
	}
	saved, err := loadWithTfgo(dir, so)
	if err != nil {
		return nil, fail("%s; the variables may be damaged: export the model again", oneLine(err.Error()))
	}
	m = &Model{dir: dir, meta: meta, pre: meta.preprocessor(), saved: saved}
	for _, x := range []struct {
		dst  *tf.Output
		name string
	}{
		{&m.input, sig.Inputs[InputImage].GetName()},
		{&m.probs, sig.Outputs[OutputProbabilities].GetName()},
		{&m.class, sig.Outputs[OutputClassID].GetName()},
	} {
		if *x.dst, err = saved.op(x.name); err != nil {
			return nil, fail("signature %s: %v", SignatureDefault, err)
		}
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

// readSavedModel checks dir before TensorFlow sees it, so the common mistakes get an
// error that says what to do, and reads the serving_default signature and the metadata.
func readSavedModel(dir string) (*pb.SignatureDef, Metadata, error) {
	var meta Metadata
	st, err := os.Stat(dir)
	if err != nil {
		return nil, meta, fmt.Errorf("%v: give the directory Export wrote (a run's savedmodel/)", errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, meta, errors.New("not a directory: give the directory holding saved_model.pb")
	}
	b, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		hint := "give the directory holding saved_model.pb"
		if v := versionDirs(dir); len(v) > 0 {
			hint = fmt.Sprintf("this looks like a TensorFlow Serving model base: give a version directory, e.g. %s", filepath.Join(dir, v[len(v)-1]))
		}
		return nil, meta, fmt.Errorf("no saved_model.pb: %s", hint)
	}
	var sm pb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		return nil, meta, fmt.Errorf("saved_model.pb is damaged (%v): export the model again", err)
	}
	var mg *pb.MetaGraphDef
	for _, g := range sm.MetaGraphs {
		for _, t := range g.GetMetaInfoDef().GetTags() {
			if t == ServeTag {
				mg = g
			}
		}
	}
	if mg == nil {
		return nil, meta, fmt.Errorf("saved_model.pb has no MetaGraph tagged %q (damaged or not a serving model): export the model again", ServeTag)
	}
	sig := mg.SignatureDef[SignatureDefault]
	if sig == nil || sig.Inputs[InputImage] == nil || sig.Outputs[OutputProbabilities] == nil || sig.Outputs[OutputClassID] == nil {
		return nil, meta, fmt.Errorf("signature %s with input %q and outputs %q, %q missing: not an xray SavedModel; export it with savedmodels.Export",
			SignatureDefault, InputImage, OutputProbabilities, OutputClassID)
	}
	// TensorFlow's loader silently skips the restore when the checkpoint is absent, and
	// every prediction would then fail on uninitialised variables.
	if mg.GetSaverDef() != nil {
		if _, err := os.Stat(filepath.Join(dir, "variables", "variables.index")); err != nil {
			return nil, meta, errors.New("no variables/variables.index: the export is incomplete; export the model again")
		}
	}
	if meta, err = readMetadata(dir, mg); err != nil {
		return nil, meta, err
	}
	if sh := sig.Inputs[InputImage].GetTensorShape().GetDim(); len(sh) != 4 || sh[1].Size != int64(meta.InputSize) || sh[2].Size != int64(meta.InputSize) {
		return nil, meta, fmt.Errorf("metadata input size %d disagrees with the signature's input shape: export the model again", meta.InputSize)
	}
	return sig, meta, nil
}

// readMetadata reads assets.extra/xray.json, or the copy in meta_info_def.any_info when
// the file was lost (e.g. a copy tool skipped the directory).
func readMetadata(dir string, mg *pb.MetaGraphDef) (Metadata, error) {
	var meta Metadata
	b, err := os.ReadFile(filepath.Join(dir, MetadataFile))
	if err != nil {
		var s wrapperspb.StringValue
		if a := mg.GetMetaInfoDef().GetAnyInfo(); a == nil || a.UnmarshalTo(&s) != nil {
			return meta, fmt.Errorf("no %s and no metadata in saved_model.pb: not an xray SavedModel; export it with savedmodels.Export", MetadataFile)
		}
		b = []byte(s.Value)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, fmt.Errorf("%s: %v: export the model again", MetadataFile, err)
	}
	if len(meta.Classes) != 2 {
		return meta, fmt.Errorf("%s: %d class names, want 2: export the model again", MetadataFile, len(meta.Classes))
	}
	if err := meta.preprocessor().Validate(); err != nil {
		return meta, fmt.Errorf("%s: %v: export the model again", MetadataFile, err)
	}
	if err := meta.validateThreshold(); err != nil {
		return meta, fmt.Errorf("%s: %v: export the model again", MetadataFile, err)
	}
	return meta, nil
}

// versionDirs lists numeric subdirectories holding a saved_model.pb, oldest first.
func versionDirs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var vs []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "saved_model.pb")); err == nil {
				vs = append(vs, n)
			}
		}
	}
	sort.Ints(vs)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Itoa(v)
	}
	return out
}

// tensorByName finds "op:index" in g.
func tensorByName(g *tf.Graph, name string) (tf.Output, error) {
	opName, idx, err := parseTensorName(name)
	if err != nil {
		return tf.Output{}, err
	}
	o := g.Operation(opName)
	if o == nil || idx >= o.NumOutputs() {
		return tf.Output{}, fmt.Errorf("tensor %q not in the graph", name)
	}
	return o.Output(idx), nil
}

// parseTensorName splits "op:index" (index 0 when absent).
func parseTensorName(name string) (op string, idx int, err error) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return name, 0, nil
	}
	if idx, err = strconv.Atoi(name[i+1:]); err != nil {
		return "", 0, fmt.Errorf("bad tensor name %q", name)
	}
	return name[:i], idx, nil
}

// Metadata describes the loaded model.
func (m *Model) Metadata() Metadata {
	meta := m.meta
	meta.Classes = append([]string(nil), m.meta.Classes...)
	return meta
}

// Dir is the directory the model was loaded from.
func (m *Model) Dir() string { return m.dir }

// Predict classifies images. They may have any size and color model: each goes through
// the same preprocessing as training (preprocess.Preprocessor with the model's input size
// and scaling). A nil image gets its own Prediction.Err; the others are still predicted.
// The error is for the call as a whole: ctx done, model closed, TensorFlow failed.
func (m *Model) Predict(ctx context.Context, images ...image.Image) ([]Prediction, error) {
	return m.predict(ctx, len(images), func(i int) ([]float32, error) {
		if images[i] == nil {
			return nil, errors.New("nil image")
		}
		b := images[i].Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 {
			return nil, fmt.Errorf("empty image (%d x %d pixels)", b.Dx(), b.Dy())
		}
		return m.pre.Floats(images[i]), nil
	})
}

// PredictBytes classifies encoded images (JPEG or PNG file contents), decoded and
// preprocessed in Go by preprocess.Preprocessor. A file that does not decode gets its own
// Prediction.Err; the others are still predicted.
func (m *Model) PredictBytes(ctx context.Context, files ...[]byte) ([]Prediction, error) {
	return m.predict(ctx, len(files), func(i int) ([]float32, error) { return m.pre.Bytes(files[i]) })
}

// predict preprocesses n images with prep (in parallel for several), hands the good
// ones to the dispatcher and waits for their probabilities.
func (m *Model) predict(ctx context.Context, n int, prep func(i int) ([]float32, error)) ([]Prediction, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.isClosed() {
		return nil, ErrClosed
	}
	preds := make([]Prediction, n)
	pixels := make([][]float32, n)
	parallel(n, func(i int) {
		p, err := prep(i)
		if err == nil && len(p) != m.pre.Len() {
			err = fmt.Errorf("preprocessing gave %d values, want %d", len(p), m.pre.Len())
		}
		pixels[i], preds[i].Err = p, err
	})
	req := &request{ctx: ctx, done: make(chan struct{})}
	var which []int
	for i, p := range pixels {
		if preds[i].Err == nil {
			req.pixels = append(req.pixels, p)
			which = append(which, i)
		}
	}
	if len(which) == 0 {
		return preds, nil
	}
	if err := m.submit(req); err != nil {
		return nil, err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if req.err != nil {
		return nil, req.err
	}
	for k, i := range which {
		c := req.class[k]
		preds[i].Class, preds[i].Probabilities, preds[i].Label = c, req.probs[k], m.meta.Classes[c]
		preds[i].Decision = m.meta.Decide(req.probs[k])
	}
	return preds, nil
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
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

func (m *Model) isClosed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.closed
}

// submit queues req unless the model is closed or ctx ends first.
func (m *Model) submit(req *request) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	select {
	case m.requests <- req:
		return nil
	case <-req.ctx.Done():
		return req.ctx.Err()
	}
}

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
	m.saved = nil // tfgo's finalizer closes the session once the model is unreachable
	return nil
}

// dispatch gathers queued requests into batches of up to maxBatch images, waiting at
// most maxDelay after the first for more, and runs them. It answers every request it
// takes, and on quit the ones still queued.
func (m *Model) dispatch() {
	defer close(m.stopped)
	var timer *time.Timer
	for {
		var first *request
		select {
		case first = <-m.requests:
		case <-m.quit:
			for {
				select {
				case r := <-m.requests:
					m.run([]*request{r})
				default:
					return
				}
			}
		}
		batch, n := []*request{first}, len(first.pixels)
		if m.maxDelay > 0 && n < m.maxBatch {
			if timer == nil {
				timer = time.NewTimer(m.maxDelay)
			} else {
				timer.Reset(m.maxDelay)
			}
		wait:
			for n < m.maxBatch {
				select {
				case r := <-m.requests:
					batch, n = append(batch, r), n+len(r.pixels)
				case <-timer.C:
					break wait
				case <-m.quit:
					break wait
				}
			}
			if !timer.Stop() {
				select { // drain a fire that raced with Stop
				case <-timer.C:
				default:
				}
			}
		}
	drain: // whatever else is already queued, up to the batch size
		for n < m.maxBatch {
			select {
			case r := <-m.requests:
				batch, n = append(batch, r), n+len(r.pixels)
			default:
				break drain
			}
		}
		m.run(batch)
	}
}

// run answers the live requests of batch with session runs of up to maxBatch images.
func (m *Model) run(batch []*request) {
	live := batch[:0:0]
	var images [][]float32
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil { // its caller has gone
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
		images = append(images, r.pixels...)
	}
	if len(live) == 0 {
		return
	}
	probs := make([][2]float32, 0, len(images))
	class := make([]int, 0, len(images))
	var err error
	for start := 0; start < len(images) && err == nil; start += m.maxBatch {
		var p [][2]float32
		var c []int
		p, c, err = m.runBatch(images[start:min(start+m.maxBatch, len(images))])
		probs, class = append(probs, p...), append(class, c...)
	}
	k := 0
	for _, r := range live {
		if err != nil {
			r.err = err
		} else {
			r.probs, r.class = probs[k:k+len(r.pixels)], class[k:k+len(r.pixels)]
		}
		k += len(r.pixels)
		close(r.done)
	}
}

// runBatch runs serving_default on preprocessed images.
func (m *Model) runBatch(images [][]float32) (probs [][2]float32, class []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("predict with %s: %v", m.dir, r)
		}
	}()
	readers := make([]io.Reader, len(images))
	for i, p := range images {
		readers[i] = bytes.NewReader(floatBytes(p))
	}
	m.runs.Add(1)
	s := int64(m.pre.Size)
	in, err := tf.ReadTensor(tf.Float, []int64{int64(len(images)), s, s, 3}, io.MultiReader(readers...))
	if err != nil {
		return nil, nil, fmt.Errorf("predict with %s: %w", m.dir, err)
	}
	out, err := m.saved.exec([]tf.Output{m.probs, m.class}, map[tf.Output]*tf.Tensor{m.input: in})
	if err != nil {
		return nil, nil, fmt.Errorf("predict with %s: %s", m.dir, oneLine(err.Error()))
	}
	pv, ok1 := out[0].Value().([][]float32)
	cv, ok2 := out[1].Value().([]int64)
	if !ok1 || !ok2 || len(pv) != len(images) || len(cv) != len(images) {
		return nil, nil, fmt.Errorf("predict with %s: outputs of unexpected shape %v, %v", m.dir, out[0].Shape(), out[1].Shape())
	}
	probs = make([][2]float32, len(images))
	class = make([]int, len(images))
	for i := range pv {
		if len(pv[i]) != 2 || cv[i] < 0 || cv[i] > 1 {
			return nil, nil, fmt.Errorf("predict with %s: probabilities %v / class %d out of range", m.dir, pv[i], cv[i])
		}
		probs[i] = [2]float32{pv[i][0], pv[i][1]}
		class[i] = int(cv[i])
	}
	return probs, class, nil
}

// floatBytes views float32s as their in-memory bytes: TensorFlow tensors hold native
// byte order too, so ReadTensor copies them as they are.
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
