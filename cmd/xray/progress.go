package main

import (
	"io"
	"os"

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
