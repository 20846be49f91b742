package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/savedmodels"
)

// ErrNoModel: the model directory holds no loadable SavedModel.
var ErrNoModel = errors.New("no loadable SavedModel")

// version is one loaded SavedModel. Requests hold it (inflight) while they use it, so
// that an unload closes it only after the last one has finished.
type version struct {
	n        int64
	dir      string
	model    *savedmodels.Model
	meta     savedmodels.Metadata
	sigs     map[string]*pb.SignatureDef
	inflight sync.WaitGroup
	closed   chan struct{} // closed once retired and its session closed
}

// Version states, TensorFlow Serving's ModelVersionStatus.State names.
const (
	StateLoading   = "LOADING"
	StateAvailable = "AVAILABLE"
	StateUnloading = "UNLOADING"
	StateEnd       = "END"
)

// VersionStatus is one version's state as TensorFlow Serving's GetModelStatus reports
// it: a version that failed to load is END with ErrorCode "UNKNOWN" and the error; one
// unloaded (superseded, or gone from disk) is END with "OK".
type VersionStatus struct {
	Version      int64
	State        string
	ErrorCode    string // "OK" or "UNKNOWN"
	ErrorMessage string
}

// manager keeps the versions of one model that its VersionPolicy names loaded, polling
// the base for changes. A single SavedModel directory (saved_model.pb at its top) is
// version 1 and is never reloaded.
type manager struct {
	name    string
	base    string
	single  bool
	policy  VersionPolicy
	opts    savedmodels.Options
	log     *slog.Logger
	metrics *metrics

	mu     sync.RWMutex
	avail  map[int64]*version
	status map[int64]*VersionStatus // every version ever aspired
	closed bool

	seen   map[int64]string // fingerprint of each candidate at the last poll
	failed map[int64]string // fingerprint that failed to load: retried when it changes
	wg     sync.WaitGroup   // unloaded versions still closing
}

func newManager(mc ModelConfig, opts savedmodels.Options, log *slog.Logger, mt *metrics) (*manager, error) {
	base := mc.BasePath
	st, err := os.Stat(base)
	if err != nil {
		return nil, fmt.Errorf("model %s: directory %s: %w", mc.Name, base, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model %s: directory %s: not a directory: %w", mc.Name, base, ErrNoModel)
	}
	_, err = os.Stat(filepath.Join(base, "saved_model.pb"))
	m := &manager{name: mc.Name, base: base, single: err == nil, policy: mc.Policy, opts: opts, log: log.With("model", mc.Name), metrics: mt,
		avail: map[int64]*version{}, status: map[int64]*VersionStatus{}, seen: map[int64]string{}, failed: map[int64]string{}}
	cands := m.candidates()
	// At start the files are taken as complete; a version that fails leaves its place
	// in the policy to the next older one.
	for range len(cands) {
		if m.sync(cands, true); m.latest() != nil {
			break
		}
	}
	if m.latest() != nil {
		return m, nil
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("model %s: directory %s: %w: give a SavedModel directory or a TensorFlow Serving model base (numbered version directories, each a SavedModel)", mc.Name, base, ErrNoModel)
	}
	return nil, fmt.Errorf("model %s: directory %s: %w: none of the versions its policy names loads (see the log)", mc.Name, base, ErrNoModel)
}

// candidate is a version directory that looks complete.
type candidate struct {
	n   int64
	dir string
}

// candidates lists the complete versions, oldest first: a numbered directory with its
// saved_model.pb and variables (index and data), as TensorFlow Serving's file system
// source requires.
func (m *manager) candidates() []candidate {
	if m.single {
		return []candidate{{1, m.base}}
	}
	ents, _ := os.ReadDir(m.base)
	var out []candidate
	for _, e := range ents {
		n, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || n < 0 || !e.IsDir() {
			continue
		}
		dir := filepath.Join(m.base, e.Name())
		if complete(dir) {
			out = append(out, candidate{n, dir})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

func complete(dir string) bool {
	for _, f := range []string{"saved_model.pb", "variables/variables.index"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	data, _ := filepath.Glob(filepath.Join(dir, "variables", "variables.data-*"))
	return len(data) > 0
}

// fingerprint summarises the files under dir (names, sizes, modification times): a copy
// in progress changes it between polls.
func fingerprint(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// open loads and warms up a version: the first request it serves is not its first run.
func (m *manager) open(c candidate) (*version, error) {
	start := time.Now()
	v, err := m.openQuiet(c)
	if err != nil {
		m.metrics.loads.WithLabelValues("failed").Inc()
		m.log.Error("model version failed to load", "version", c.n, "dir", c.dir, "error", err)
		return nil, err
	}
	m.metrics.loads.WithLabelValues("ok").Inc()
	m.log.Info("model version loaded", "version", c.n, "dir", c.dir, "architecture", v.meta.Arch,
		"run_id", v.meta.RunID, "seconds", time.Since(start).Seconds())
	return v, nil
}

func (m *manager) openQuiet(c candidate) (*version, error) {
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
	return &version{n: c.n, dir: c.dir, model: model, meta: meta, sigs: sigs, closed: make(chan struct{})}, nil
}

// setState records a version's state (and error) for status.
func (m *manager) setState(n int64, state string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &VersionStatus{Version: n, State: state, ErrorCode: "OK"}
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
func (m *manager) sync(cands []candidate, initial bool) {
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
func (m *manager) load(c candidate, fp string) {
	m.setState(c.n, StateLoading, nil)
	v, err := m.open(c)
	if err == nil && !m.single && fingerprint(c.dir) != fp {
		v.model.Close()
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
		v.model.Close()
		return
	}
	m.avail[v.n] = v
	m.status[v.n] = &VersionStatus{Version: v.n, State: StateAvailable, ErrorCode: "OK"}
	m.mu.Unlock()
	m.published()
}

// unloadUnaspired unloads the loaded versions the policy no longer names, once an
// aspired one is available, and at once those gone from disk.
func (m *manager) unloadUnaspired(aspired []candidate, onDisk map[int64]string) {
	m.mu.Lock()
	anyAspired := false
	for _, c := range aspired {
		if m.avail[c.n] != nil {
			anyAspired = true
		}
	}
	var gone []*version
	for n, v := range m.avail {
		_, present := onDisk[n]
		if !present || (anyAspired && !slices.ContainsFunc(aspired, func(c candidate) bool { return c.n == n })) {
			delete(m.avail, n)
			m.status[n] = &VersionStatus{Version: n, State: StateUnloading, ErrorCode: "OK"}
			gone = append(gone, v)
			if !present {
				m.log.Warn("model version gone from disk: unloaded, as TensorFlow Serving does", "version", n, "dir", v.dir)
			}
		}
	}
	left := len(m.avail)
	m.mu.Unlock()
	for _, v := range gone {
		m.log.Info("model version unloading", "version", v.n)
		m.retire(v)
	}
	if len(gone) > 0 && left == 0 {
		m.log.Error("no version of the model left to serve: its requests get 404 until a version appears", "base", m.base)
	}
	m.published()
}

// published updates the metrics from the loaded versions.
func (m *manager) published() {
	if v := m.latest(); v != nil {
		m.metrics.version.WithLabelValues(m.name).Set(float64(v.n))
		m.metrics.ready.WithLabelValues(m.name).Set(1)
		return
	}
	m.metrics.ready.WithLabelValues(m.name).Set(0)
}

// retire closes v, releasing its TensorFlow session, after its last request; v.closed
// is closed then and the version is END.
func (m *manager) retire(v *version) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(v.closed)
		v.inflight.Wait()
		if err := v.model.Close(); err != nil {
			m.log.Error("closing model version", "version", v.n, "error", err)
		}
		m.mu.Lock()
		if st := m.status[v.n]; st != nil && st.State == StateUnloading {
			st.State = StateEnd
		}
		m.mu.Unlock()
	}()
}

// latest is the highest available version (nil when none), not held.
func (m *manager) latest() *version {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var best *version
	for _, v := range m.avail {
		if best == nil || v.n > best.n {
			best = v
		}
	}
	return best
}

// acquire returns the highest available version, held until release is called; nil
// when there is none.
func (m *manager) acquire() (v *version, release func()) { return m.acquireVersion(0) }

// acquireVersion returns version n (0: the highest available), held until release.
func (m *manager) acquireVersion(n int64) (v *version, release func()) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if n == 0 {
		for _, c := range m.avail {
			if v == nil || c.n > v.n {
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

// versionStatus lists every version aspired so far, newest first (n == 0), or version n.
func (m *manager) versionStatus(n int64) []VersionStatus {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []VersionStatus
	for k, st := range m.status {
		if n == 0 || k == n {
			out = append(out, *st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// poll looks at the base once. One goroutine polls (watch).
func (m *manager) poll() {
	m.mu.RLock()
	closed := m.closed
	m.mu.RUnlock()
	if m.single || closed {
		return
	}
	m.sync(m.candidates(), false)
}

// watch polls every interval until ctx is done.
func (m *manager) watch(ctx context.Context, interval time.Duration) {
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

// close retires every version and waits until each is closed. A load still running then
// closes what it loaded.
func (m *manager) close() {
	m.mu.Lock()
	old := m.avail
	m.avail = map[int64]*version{}
	m.closed = true
	m.mu.Unlock()
	m.metrics.ready.WithLabelValues(m.name).Set(0)
	for _, v := range old {
		m.retire(v)
	}
	m.wg.Wait()
}
