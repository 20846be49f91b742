package batchpipe

import (
	"sync"

	"github.com/xraylab/xray/savedmodels"
)

// The models of this worker process, shared by its DoFn instances (a savedmodels.Model
// is safe for concurrent use and batches concurrent calls), so a worker loads each
// SavedModel once. Beam's Go harness (v2.77) never calls Teardown (its plans are not
// taken down), so the models are closed when the process's last pipeline ends: Run
// closes them after an in-process (Prism) run; a remote worker's process exit frees them.
var models = struct {
	sync.Mutex
	open  map[string]*savedmodels.Model
	loads int // SavedModels loaded so far (tests check: one per worker)
}{open: map[string]*savedmodels.Model{}}

// sharedModel loads dir once per process.
func sharedModel(dir string, batch int) (*savedmodels.Model, error) {
	models.Lock()
	defer models.Unlock()
	if m := models.open[dir]; m != nil {
		return m, nil
	}
	m, err := savedmodels.Load(dir, savedmodels.Options{MaxBatch: batch})
	if err != nil {
		return nil, err
	}
	models.open[dir] = m
	models.loads++
	return m, nil
}

// closeModels closes every model this process loaded.
func closeModels() error {
	models.Lock()
	defer models.Unlock()
	var first error
	for dir, m := range models.open {
		if err := m.Close(); err != nil && first == nil {
			first = err
		}
		delete(models.open, dir)
	}
	return first
}

// openModels is the number of models loaded and not yet closed.
func openModels() int {
	models.Lock()
	defer models.Unlock()
	return len(models.open)
}
