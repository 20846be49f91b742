package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/xraylab/xray/serve/versions"
)

// Backend is the server core the protocols call: model versions, the request limits and
// the one prediction path. Its errors are *Error or map to one (serve's AsError).
type Backend interface {
	// Acquire holds the version p names (0: the highest available) until release is
	// called; an unknown model or version is a 404 *Error, none loaded yet a 503.
	Acquire(p ModelPath) (v *versions.Version, release func(), err error)
	// Status is GetModelStatus for p's model: every version aspired so far, or the one
	// p names (404 when none).
	Status(p ModelPath) ([]versions.Status, error)
	// Predict holds p's version, lets decode translate the request with that version's
	// input side (a hot swap cannot change it meanwhile), checks the instances (count,
	// empty or oversized files) and runs the model.
	Predict(ctx context.Context, p ModelPath, decode func(size int) (*Input, error)) (*Output, error)
	// Ready says whether the first model has a version to serve and the server is not draining.
	Ready() bool
	// Draining says whether the server is shutting down.
	Draining() bool
	// MaxInstances is the most images one request may hold.
	MaxInstances() int
	// ReadBody reads a request body whole within the body limit and timeout.
	ReadBody(r *http.Request) ([]byte, error)
	// BodyError maps a failed body read to its 4xx *Error (nil for nil).
	BodyError(err error) error
}

// Handler is a REST handler that returns its error; the Router's API writes it as
// {"error": ...} with its status.
type Handler func(http.ResponseWriter, *http.Request) error

// Router mounts a protocol's REST routes under the server's middleware (access log,
// metrics, JSON errors, token check).
type Router struct {
	Mux *http.ServeMux
	// API wraps a handler in the request limits (concurrency slot, timeout, body size);
	// name labels its metrics and log lines.
	API func(name string, h Handler) http.Handler
	// Probe names a health handler, which takes no concurrency slot.
	Probe func(name string, h http.HandlerFunc) http.Handler
}

// ModelPath names a model and a version (0: the serving one).
type ModelPath struct {
	Name    string
	Version int64
}

// Error is an API error: the HTTP status and the message sent as {"error": message},
// TensorFlow Serving's error format (and the Open Inference Protocol's).
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Errorf is an *Error with status and a formatted message.
func Errorf(status int, format string, a ...any) *Error {
	return &Error{status, fmt.Sprintf(format, a...)}
}

// BadRequest is a 400 *Error: the client's mistake.
func BadRequest(format string, a ...any) *Error { return Errorf(http.StatusBadRequest, format, a...) }

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes e as {"error": message}, with Retry-After for 429 and 503.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	WriteJSON(w, e.Status, map[string]string{"error": e.Message})
}
