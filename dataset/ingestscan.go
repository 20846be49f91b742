package dataset

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/xraylab/xray/progress"
)

// classFile is a file found in a class folder, before it is checked.
type classFile struct {
	rel   string // slash path relative to the data root
	label int    // the folder's class
}

// scanClassDirs lists the files below each class folder, skipping hidden files and
// folders and macOS's __MACOSX.
func scanClassDirs(abs string, dirs []classDir) ([]classFile, error) {
	var files []classFile
	for _, cd := range dirs {
		err := filepath.WalkDir(cd.path, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := de.Name()
			if p != cd.path && (strings.HasPrefix(name, ".") || name == "__MACOSX") {
				if de.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if de.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(abs, p)
			if err != nil {
				return err
			}
			files = append(files, classFile{filepath.ToSlash(rel), cd.label})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", cd.path, err)
		}
	}
	return files, nil
}

// fileCheck is checkImage's verdict on one file.
type fileCheck struct {
	sum, reason string
	patient     string // hash of a DICOM file's PatientID
}

// checkFiles runs checkImage on every file, opt.Workers at a time, with a progress bar.
func checkFiles(abs string, files []classFile, opt IngestOptions) []fileCheck {
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var mu sync.Mutex // serialises the workers' reports (the progress contract)
	task := progress.Event{Task: "ingest", Total: int64(len(files)), Unit: "img"}
	checks := make([]fileCheck, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := &checks[i]
				c.sum, c.patient, c.reason = checkImage(filepath.Join(abs, filepath.FromSlash(files[i].rel)), opt.Verify)
				mu.Lock()
				task.Done++
				opt.Progress.Report(task)
				mu.Unlock()
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return checks
}
