package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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
// that a swap closes it only after the last one has finished.
type version struct {
	n        int64
	dir      string
	model    *savedmodels.Model
	meta     savedmodels.Metadata
	sigs     map[string]*pb.SignatureDef
	inflight sync.WaitGroup
	closed   chan struct{} // closed once retired and its session closed
}

// manager keeps the highest version of a TensorFlow Serving model base loaded, polling
// for new ones. A single SavedModel directory (saved_model.pb at its top) is version 1
// and is never reloaded.
type manager struct {
	base    string
	single  bool
	opts    savedmodels.Options
	log     *slog.Logger
	metrics *metrics

	mu     sync.RWMutex
	cur    *version
	closed bool

	seen   map[int64]string // fingerprint of each candidate at the last poll
	failed map[int64]string // fingerprint that failed to load: retried when it changes
	wg     sync.WaitGroup   // swapped-out versions still closing
}

func newManager(base string, opts savedmodels.Options, log *slog.Logger, mt *metrics) (*manager, error) {
	st, err := os.Stat(base)
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", base, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model directory %s: not a directory: %w", base, ErrNoModel)
	}
	_, err = os.Stat(filepath.Join(base, "saved_model.pb"))
	m := &manager{base: base, single: err == nil, opts: opts, log: log, metrics: mt,
		seen: map[int64]string{}, failed: map[int64]string{}}
	// At start the files are taken as complete: try the newest first, then older ones.
	cands := m.candidates()
	for i := len(cands) - 1; i >= 0; i-- {
		if v, err := m.load(cands[i]); err == nil {
			m.swap(v)
			return m, nil
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("model directory %s: %w: give a SavedModel directory or a TensorFlow Serving model base (numbered version directories, each a SavedModel)", base, ErrNoModel)
	}
	return nil, fmt.Errorf("model directory %s: %w: none of its %d versions loads (see the log)", base, ErrNoModel, len(cands))
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

// load opens and warms up a version: the first request it serves is not its first run.
func (m *manager) load(c candidate) (*version, error) {
	start := time.Now()
	v, err := m.open(c)
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

func (m *manager) open(c candidate) (*version, error) {
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

// swap makes v the serving version; the old one is closed once its requests are done.
func (m *manager) swap(v *version) {
	m.mu.Lock()
	if m.closed { // a load that finished after close: nothing serves it
		m.mu.Unlock()
		v.model.Close()
		return
	}
	old := m.cur
	m.cur = v
	m.mu.Unlock()
	m.metrics.version.Set(float64(v.n))
	m.metrics.ready.Set(1)
	if old != nil {
		m.log.Info("model version swapped", "from", old.n, "to", v.n)
		m.retire(old)
	}
}

// retire closes v, releasing its TensorFlow session, after its last request; v.closed
// is closed then.
func (m *manager) retire(v *version) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(v.closed)
		v.inflight.Wait()
		if err := v.model.Close(); err != nil {
			m.log.Error("closing model version", "version", v.n, "error", err)
		}
	}()
}

// acquire returns the serving version, held until release is called; nil when closed.
func (m *manager) acquire() (v *version, release func()) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.cur == nil {
		return nil, func() {}
	}
	v = m.cur
	v.inflight.Add(1) // under the read lock: a swap cannot retire v before this
	return v, v.inflight.Done
}

// poll loads a version newer than the serving one, once its files have stayed the same
// for one poll interval and are still the same after loading (a copy in progress is
// never loaded), and swaps it in. A version that fails is retried when its files change.
// One goroutine polls (watch).
func (m *manager) poll() {
	if m.single {
		return
	}
	m.mu.RLock()
	cur := m.cur
	m.mu.RUnlock()
	if cur == nil { // closed
		return
	}
	curN := cur.n
	cands := m.candidates()
	seen := map[int64]string{}
	var next *candidate
	for i := range cands {
		c := cands[i]
		if c.n <= curN {
			continue
		}
		fp := fingerprint(c.dir)
		seen[c.n] = fp
		if m.seen[c.n] == fp && m.failed[c.n] != fp {
			next = &c
		}
	}
	m.seen = seen
	if next == nil {
		return
	}
	fp := seen[next.n]
	v, err := m.load(*next)
	if err == nil && fingerprint(next.dir) != fp {
		v.model.Close()
		v, err = nil, errors.New("files changed while loading")
	}
	if err != nil {
		m.failed[next.n] = fp
		return
	}
	m.swap(v)
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

// close retires the serving version and waits until every version is closed. A poll
// still loading then closes what it loaded (swap).
func (m *manager) close() {
	m.mu.Lock()
	old := m.cur
	m.cur = nil
	m.closed = true
	m.mu.Unlock()
	m.metrics.ready.Set(0)
	if old != nil {
		m.retire(old)
	}
	m.wg.Wait()
}
