package serve

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/serve/protocol"
)

// recorder notes the status and size of a response for the log and the metrics.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// limit applies the per-request limits (concurrency, time, body size) and writes the
// handler's error as {"error": ...}.
func (s *Server) limit(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			writeError(w, errorf(http.StatusTooManyRequests, "over the server's limit of %d concurrent requests; retry later", s.cfg.MaxConcurrent))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		// A slow body (slow loris) fails the read at the deadline instead of holding a slot.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.Timeout))
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
		case "", "identity":
		case "gzip":
			// As TensorFlow Serving; the limit applies to the decompressed bytes too, so a
			// gzip bomb stops at MaxBodyBytes.
			r.Body = http.MaxBytesReader(w, &gunzip{r: r.Body}, s.cfg.MaxBodyBytes)
			r.Header.Del("Content-Encoding")
		default:
			writeError(w, errorf(http.StatusUnsupportedMediaType, "Content-Encoding %q: send the body as it is or gzip-compressed", enc))
			return
		}
		if err := h(w, r.WithContext(ctx)); err != nil {
			writeError(w, protocol.AsError(err))
		}
	})
}

// readBody reads the whole body within the limits.
func (s *Server) readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	return b, s.bodyError(err)
}

// bodyError maps a failed body read to its 4xx.
func (s *Server) bodyError(err error) error {
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "request body over the server's limit of %d bytes", tooBig.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errorf(http.StatusRequestTimeout, "request body not received within the server's timeout of %s", s.cfg.Timeout)
	}
	return errorf(http.StatusBadRequest, "reading the request body: %v", err)
}

// checkImage rejects what is not worth decoding, from the header alone: an empty file,
// one that is not JPEG, PNG or DICOM, and one outside preprocess.CheckSize (the rule
// ingest applies) or over Config.MaxPixels (a decompression bomb).
func (s *Server) checkImage(what string, b []byte) error {
	if len(b) == 0 {
		return errorf(http.StatusBadRequest, "%s: empty image (0 bytes): send a JPEG, PNG or DICOM file", what)
	}
	_, w, h, err := preprocess.Config(b)
	if err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", what, err)
	}
	if px := int64(w) * int64(h); px > s.cfg.MaxPixels {
		return errorf(http.StatusRequestEntityTooLarge, "%s: image of %d x %d = %d pixels, over the server's limit of %d", what, w, h, px, s.cfg.MaxPixels)
	}
	if err := preprocess.CheckSize(w, h); err != nil {
		return errorf(http.StatusBadRequest, "%s: %v (X-rays only)", what, err)
	}
	return nil
}

// gunzip decompresses a gzip body, opening it at the first read (a bad header is then a
// read error of the handler's, answered 400).
type gunzip struct {
	r  io.Reader
	zr *gzip.Reader
}

func (g *gunzip) Read(b []byte) (int, error) {
	if g.zr == nil {
		zr, err := gzip.NewReader(g.r)
		if err != nil {
			return 0, fmt.Errorf("Content-Encoding gzip: %w", err)
		}
		g.zr = zr
	}
	n, err := g.zr.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("Content-Encoding gzip: %w", err)
	}
	return n, err
}

func (g *gunzip) Close() error { return nil }

// levelFor logs server faults as errors, everything else as info.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
