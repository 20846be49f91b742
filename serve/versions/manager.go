package versions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/savedmodels"
)

// ErrNoModel: the model directory holds no loadable SavedModel.
var ErrNoModel = errors.New("no loadable SavedModel")

// Version is one loaded SavedModel. Requests hold it (Manager.Acquire) while they use
// it, so that an unload closes it only after the last one has finished. Its fields are
// read-only.
type Version struct {
	N     int64                       // the version number (its directory's name; 1 for a single SavedModel)
	Dir   string                      // its SavedModel directory
	Model *savedmodels.Model          // the loaded, warmed-up model
	Meta  savedmodels.Metadata        // Model.Metadata()
	Sigs  map[string]*pb.SignatureDef // its signature defs, as GetModelMetadata answers them

	inflight sync.WaitGroup
	closed   chan struct{} // closed once retired and its session closed
}

// Closed is closed once the version is unloaded and its TensorFlow session closed.
func (v *Version) Closed() <-chan struct{} { return v.closed }

// Version states, TensorFlow Serving's ModelVersionStatus.State names.
const (
	StateLoading   = "LOADING"
	StateAvailable = "AVAILABLE"
	StateUnloading = "UNLOADING"
	StateEnd       = "END"
)

// Status is one version's state as TensorFlow Serving's GetModelStatus reports
// it: a version that failed to load is END with ErrorCode "UNKNOWN" and the error; one
// unloaded (superseded, or gone from disk) is END with "OK".
type Status struct {
	Version      int64
	State        string
	ErrorCode    string // "OK" or "UNKNOWN"
	ErrorMessage string
}

// Manager keeps the versions of one model that its Policy names loaded, polling
// the base for changes (Watch). A single SavedModel directory (saved_model.pb at its top)
// is version 1 and is never reloaded.
type Manager struct {
	name    string
	base    string
	single  bool
	policy  Policy
	opts    savedmodels.Options
	log     *slog.Logger
	metrics Metrics

	mu     sync.RWMutex
	avail  map[int64]*Version
	status map[int64]*Status // every version ever aspired
	closed bool

	seen   map[int64]string // fingerprint of each candidate at the last poll
	failed map[int64]string // fingerprint that failed to load: retried when it changes
	wg     sync.WaitGroup   // unloaded versions still closing
}

// Metrics are the Prometheus series a Manager keeps up to date: loads by result ("ok",
// "failed"), and by model name the highest version served and whether one is ready.
type Metrics struct {
	Loads          *prometheus.CounterVec
	Version, Ready *prometheus.GaugeVec
}

// New loads the versions of mc.BasePath that mc.Policy names, each warmed up with one
// prediction; a version that fails leaves its place to the next older one. Its error
// matches ErrNoModel when none loads (each failure is logged to log).
func New(mc ModelConfig, opts savedmodels.Options, log *slog.Logger, mt Metrics) (*Manager, error) {
	base := mc.BasePath
	st, err := os.Stat(base)
	if err != nil {
		return nil, fmt.Errorf("model %s: directory %s: %w", mc.Name, base, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model %s: directory %s: not a directory: %w", mc.Name, base, ErrNoModel)
	}
	_, err = os.Stat(filepath.Join(base, "saved_model.pb"))
	m := &Manager{name: mc.Name, base: base, single: err == nil, policy: mc.Policy, opts: opts, log: log.With("model", mc.Name), metrics: mt,
		avail: map[int64]*Version{}, status: map[int64]*Status{}, seen: map[int64]string{}, failed: map[int64]string{}}
	cands := m.candidates()
	// At start the files are taken as complete; a version that fails leaves its place
	// in the policy to the next older one.
	for range len(cands) {
		if m.sync(cands, true); m.Latest() != nil {
			break
		}
	}
	if m.Latest() != nil {
		return m, nil
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("model %s: directory %s: %w: give a SavedModel directory or a TensorFlow Serving model base (numbered version directories, each a SavedModel)", mc.Name, base, ErrNoModel)
	}
	return nil, fmt.Errorf("model %s: directory %s: %w: none of the versions its policy names loads (see the log)", mc.Name, base, ErrNoModel)
}

// open loads and warms up a version: the first request it serves is not its first run.
func (m *Manager) open(c candidate) (*Version, error) {
	start := time.Now()
	v, err := m.openQuiet(c)
	if err != nil {
		m.metrics.Loads.WithLabelValues("failed").Inc()
		m.log.Error("model version failed to load", "version", c.n, "dir", c.dir, "error", err)
		return nil, err
	}
	m.metrics.Loads.WithLabelValues("ok").Inc()
	m.log.Info("model version loaded", "version", c.n, "dir", c.dir, "architecture", v.Meta.Arch,
		"run_id", v.Meta.RunID, "seconds", time.Since(start).Seconds())
	return v, nil
}

func (m *Manager) openQuiet(c candidate) (*Version, error) {
	sigs, err := savedmodels.SignatureDefs(c.dir)
	if err != nil {
		return nil, err
	}
	model, err := savedmodels.Load(c.dir, m.opts)
	if err != nil {
		return nil, err
	}
	meta := model.Metadata()
	warm := make([]float32, meta.InputSize*meta.InputSize*3)
	if _, err := model.PredictPixels(context.Background(), warm); err != nil {
		model.Close()
		return nil, fmt.Errorf("warm-up of %s: %w", c.dir, err)
	}
	return &Version{N: c.n, Dir: c.dir, Model: model, Meta: meta, Sigs: sigs, closed: make(chan struct{})}, nil
}

// setState records a version's state (and error) for status.
func (m *Manager) setState(n int64, state string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &Status{Version: n, State: state, ErrorCode: "OK"}
	if err != nil {
		st.ErrorCode, st.ErrorMessage = "UNKNOWN", err.Error()
	}
	m.status[n] = st
}

// sync brings the loaded versions to what the policy names among cands: it loads the
// aspired versions not yet loaded (at start at once; later only once their files have
// stayed the same for one poll and still are after loading, so a copy in progress is
// never loaded), then unloads the loaded versions no longer aspired. A version whose
// load failed is skipped (the policy then names the next one) until its files change.
// While no aspired version has loaded, the serving ones stay (TensorFlow Serving's
// availability-preserving policy), except those gone from disk.
func (m *Manager) sync(cands []candidate, initial bool) {
	fps := map[int64]string{}
	var usable []candidate
	for _, c := range cands {
		fp := fingerprint(c.dir)
		fps[c.n] = fp
		if m.failed[c.n] != fp || m.single {
			usable = append(usable, c)
		}
	}
	aspired := m.policy.pick(usable)
	for _, c := range aspired {
		m.mu.RLock()
		_, loaded := m.avail[c.n]
		m.mu.RUnlock()
		if loaded || (!initial && m.seen[c.n] != fps[c.n]) {
			continue
		}
		m.load(c, fps[c.n])
	}
	m.seen = fps
	m.unloadUnaspired(aspired, fps)
}

// load opens c, moving it LOADING -> AVAILABLE, or END with the error.
func (m *Manager) load(c candidate, fp string) {
	m.setState(c.n, StateLoading, nil)
	v, err := m.open(c)
	if err == nil && !m.single && fingerprint(c.dir) != fp {
		v.Model.Close()
		v, err = nil, errors.New("files changed while loading")
	}
	if err != nil {
		m.failed[c.n] = fp
		m.setState(c.n, StateEnd, err)
		return
	}
	m.mu.Lock()
	if m.closed { // a load that finished after close: nothing serves it
		m.mu.Unlock()
		v.Model.Close()
		return
	}
	m.avail[v.N] = v
	m.status[v.N] = &Status{Version: v.N, State: StateAvailable, ErrorCode: "OK"}
	m.mu.Unlock()
	m.published()
}

// unloadUnaspired unloads the loaded versions the policy no longer names, once an
// aspired one is available, and at once those gone from disk.
func (m *Manager) unloadUnaspired(aspired []candidate, onDisk map[int64]string) {
	m.mu.Lock()
	anyAspired := false
	for _, c := range aspired {
		if m.avail[c.n] != nil {
			anyAspired = true
		}
	}
	var gone []*Version
	for n, v := range m.avail {
		_, present := onDisk[n]
		if !present || (anyAspired && !slices.ContainsFunc(aspired, func(c candidate) bool { return c.n == n })) {
			delete(m.avail, n)
			m.status[n] = &Status{Version: n, State: StateUnloading, ErrorCode: "OK"}
			gone = append(gone, v)
			if !present {
				m.log.Warn("model version gone from disk: unloaded, as TensorFlow Serving does", "version", n, "dir", v.Dir)
			}
		}
	}
	left := len(m.avail)
	m.mu.Unlock()
	for _, v := range gone {
		m.log.Info("model version unloading", "version", v.N)
		m.retire(v)
	}
	if len(gone) > 0 && left == 0 {
		m.log.Error("no version of the model left to serve: its requests get 404 until a version appears", "base", m.base)
	}
	m.published()
}

// published updates the metrics from the loaded versions.
func (m *Manager) published() {
	if v := m.Latest(); v != nil {
		m.metrics.Version.WithLabelValues(m.name).Set(float64(v.N))
		m.metrics.Ready.WithLabelValues(m.name).Set(1)
		return
	}
	m.metrics.Ready.WithLabelValues(m.name).Set(0)
}

// retire closes v, releasing its TensorFlow session, after its last request; v.closed
// is closed then and the version is END.
func (m *Manager) retire(v *Version) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(v.closed)
		v.inflight.Wait()
		if err := v.Model.Close(); err != nil {
			m.log.Error("closing model version", "version", v.N, "error", err)
		}
		m.mu.Lock()
		if st := m.status[v.N]; st != nil && st.State == StateUnloading {
			st.State = StateEnd
		}
		m.mu.Unlock()
	}()
}

// Name is the model's name.
func (m *Manager) Name() string { return m.name }

// Latest is the highest available version (nil when none), not held: for a readiness
// check, not for a request (Acquire).
func (m *Manager) Latest() *Version {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var best *Version
	for _, v := range m.avail {
		if best == nil || v.N > best.N {
			best = v
		}
	}
	return best
}

// Acquire returns version n (0: the highest available), held until release is called:
// an unload closes it only after. v is nil (and release a no-op) when it is not available.
func (m *Manager) Acquire(n int64) (v *Version, release func()) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if n == 0 {
		for _, c := range m.avail {
			if v == nil || c.N > v.N {
				v = c
			}
		}
	} else {
		v = m.avail[n]
	}
	if v == nil {
		return nil, func() {}
	}
	v.inflight.Add(1) // under the read lock: an unload cannot retire v before this
	return v, v.inflight.Done
}

// Status lists every version aspired so far, newest first (n == 0), or version n.
func (m *Manager) Status(n int64) []Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Status
	for k, st := range m.status {
		if n == 0 || k == n {
			out = append(out, *st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// poll looks at the base once. One goroutine polls (watch).
func (m *Manager) poll() {
	m.mu.RLock()
	closed := m.closed
	m.mu.RUnlock()
	if m.single || closed {
		return
	}
	m.sync(m.candidates(), false)
}

// Watch polls the base every interval until ctx is done (never when interval <= 0 or
// for a single SavedModel).
func (m *Manager) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 || m.single {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.poll()
		}
	}
}

// Close retires every version and waits until each is closed. A load still running then
// closes what it loaded.
func (m *Manager) Close() {
	m.mu.Lock()
	old := m.avail
	m.avail = map[int64]*Version{}
	m.closed = true
	m.mu.Unlock()
	m.metrics.Ready.WithLabelValues(m.name).Set(0)
	for _, v := range old {
		m.retire(v)
	}
	m.wg.Wait()
}
