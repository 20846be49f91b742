package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/xraylab/xray/progress"
	"golang.org/x/term"
)

// progressWriter returns w for progress bars when it is a terminal, nil otherwise: bars
// in logs and pipes are noise.
func progressWriter(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return w
	}
	return nil
}

// progressBar is the CLI's one progress bar: it draws the libraries' progress events on
// w (count or bytes, rate, ETA), a new bar for each task, cleared when the task ends.
// It returns nil, no progress, when w is not a terminal (see progressWriter).
func progressBar(w io.Writer) progress.Func {
	w = progressWriter(w)
	if w == nil {
		return nil
	}
	var (
		mu   sync.Mutex
		bar  *progressbar.ProgressBar
		task string
	)
	return func(e progress.Event) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil || e.Task != task {
			if bar != nil {
				bar.Finish()
			}
			bar, task = newBar(w, e), e.Task
		}
		desc := e.Task
		if e.Note != "" {
			desc += " " + e.Note
		}
		bar.Describe(desc)
		bar.Set64(e.Done)
		if e.Total > 0 && e.Done >= e.Total {
			bar.Finish()
			bar = nil
		}
	}
}

// newBar is one task's bar: its total (-1: unknown, a spinner with count and rate) and unit.
func newBar(w io.Writer, e progress.Event) *progressbar.ProgressBar {
	total := e.Total
	if total <= 0 {
		total = -1
	}
	opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(e.Task),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionClearOnFinish()}
	if e.Unit == "B" {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(e.Unit))
	}
	return progressbar.NewOptions64(total, opts...)
}
