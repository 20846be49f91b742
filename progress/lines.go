package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Lines is a *slog.Logger that writes each record at Info or above as one plain line for
// a person: prefix, "warning: " or "error: " by level, the message, then its attributes'
// values, the first after a space and the others after ": ". A library logging
//
//	logger.Warn("skipped", "path", "NORMAL/a.jpeg", "reason", "empty file")
//
// prints, with prefix "xray: ", "xray: warning: skipped NORMAL/a.jpeg: empty file". It is
// how cmd/xray (and a caller that logs to a terminal or a text file) renders the records
// libraries report through the *slog.Logger they are handed. A nil w discards.
func Lines(w io.Writer, prefix string) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	return slog.New(&lineHandler{w: w, prefix: prefix, mu: &sync.Mutex{}})
}

type lineHandler struct {
	w      io.Writer
	prefix string
	attrs  []slog.Attr // from WithAttrs, printed after the record's own
	mu     *sync.Mutex // shared by the handlers derived from one Lines: whole lines
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	sep := " "
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s%v", sep, a.Value.Resolve())
		sep = ": "
		return true
	}
	r.Attrs(add)
	for _, a := range h.attrs {
		add(a)
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup is ignored: a line names values, not keys.
func (h *lineHandler) WithGroup(string) slog.Handler { return h }
