package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// The HTTP handler is one chain around the route mux, so that a route added to the mux
// later (by any file of this package) gets every layer without asking:
//
//	instrument   metrics and the access log (method, path, status, bytes, time; never a
//	             body, a header or a query string, so no token and no patient data)
//	jsonErrors   any non-JSON error the standard library writes (404, 405, a redirect)
//	             becomes {"error": ...}
//	guard        a path that is not canonical (.., //, a trailing /.) is refused, not
//	             redirected
//	authenticate 401 without an accepted token (Authenticate), except OpenPath's
//	mux          the routes; each names itself for the metrics (named) and applies the
//	             request limits (limit)
func (s *Server) chain(mux http.Handler) http.Handler {
	return s.instrument(jsonErrors(s.guard(s.authenticate(mux))))
}

type routeNameKey struct{}

// named labels the request with its route's name for the metrics and the log.
func named(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(routeNameKey{}).(*string); ok {
			*p = name
		}
		h.ServeHTTP(w, r)
	})
}

// instrument counts, times and logs each request under its route's name ("other" when
// no route took it).
func (s *Server) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		name := "other"
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeNameKey{}, &name)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(rec.status)).Inc()
		s.metrics.latency.WithLabelValues(name).Observe(d.Seconds())
		s.cfg.Logger.LogAttrs(r.Context(), levelFor(rec.status), "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("proto", r.Proto),
			slog.Int("status", rec.status), slog.Int("bytes", int(rec.bytes)),
			slog.Float64("ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
	})
}

// authenticate refuses a request to a closed path without an accepted token.
func (s *Server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.OpenPath(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		if err := s.Authenticate(r.Header.Get("Authorization")); err != nil {
			// Basic lets a browser ask for the token (as the password) to show the page.
			w.Header().Add("WWW-Authenticate", `Bearer realm="xray"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="xray (any user name, the token as password)"`)
			writeError(w, errorf(http.StatusUnauthorized, "%s", err))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// guard refuses paths the mux would redirect to their clean form: a client sending
// /v1/models/../x meant something else, and a 3xx with an HTML body helps no API client.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if p == "" || p[0] != '/' || clean != p {
			writeError(w, errorf(http.StatusNotFound, "path %q is not canonical (it has //, . or ..): send %s", p, clean))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// jsonErrors turns an error answer that is not JSON (the mux's 404 and 405, the file
// server's 404, a redirect) into {"error": message}, and a redirect into a 404.
func jsonErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jw := &jsonWriter{ResponseWriter: w}
		h.ServeHTTP(jw, r)
		if jw.status == 0 {
			return
		}
		msg := strings.TrimSpace(jw.body.String())
		if jw.status >= 300 && jw.status < 400 {
			jw.status, msg = http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)
		}
		if msg == "" || strings.HasPrefix(msg, "<") {
			msg = http.StatusText(jw.status)
		}
		w.Header().Del("Location")
		w.Header().Del("X-Content-Type-Options")
		writeError(w, &Error{Status: jw.status, Message: msg})
	})
}

// jsonWriter holds back a non-JSON error answer (status >= 300) for jsonErrors.
type jsonWriter struct {
	http.ResponseWriter
	status  int // the held-back status; 0 when passing through
	passing bool
	body    bytes.Buffer
}

func (j *jsonWriter) WriteHeader(code int) {
	if j.passing || j.status != 0 {
		return
	}
	ct := j.Header().Get("Content-Type")
	if code >= 300 && code != http.StatusNotModified && !strings.HasPrefix(ct, "application/json") {
		j.status = code
		return
	}
	j.passing = true
	j.ResponseWriter.WriteHeader(code)
}

func (j *jsonWriter) Write(b []byte) (int, error) {
	if !j.passing && j.status == 0 {
		j.WriteHeader(http.StatusOK)
	}
	if j.status != 0 {
		if j.body.Len() < 1024 {
			j.body.Write(b[:min(len(b), 1024)])
		}
		return len(b), nil
	}
	return j.ResponseWriter.Write(b)
}

func (j *jsonWriter) Unwrap() http.ResponseWriter { return j.ResponseWriter }

// errorConns makes the answers net/http writes itself, before any handler runs (431 for
// headers over the limit, 400 for a malformed or slow request head), JSON as well: each
// is one Write of "HTTP/1.1 CODE TEXT" + errorHeaders + body on the connection.
type errorConns struct {
	net.Listener
	headerTimeout time.Duration
}

func (l errorConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &errorConn{Conn: c, headerTimeout: l.headerTimeout}, nil
}

type errorConn struct {
	net.Conn
	headerTimeout time.Duration
}

// errorHeaders is what net/http's server puts between the status line and the body of
// the answers it writes itself.
const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *errorConn) Write(b []byte) (int, error) {
	head, body, ok := bytes.Cut(b, []byte(errorHeaders))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 ")) || len(head) < 12 {
		return c.Conn.Write(b)
	}
	code, err := strconv.Atoi(string(head[9:12]))
	if err != nil {
		return c.Conn.Write(b)
	}
	msg := strings.TrimSpace(string(body))
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		msg = fmt.Sprintf("request head over the server's limit of %d bytes", MaxHeaderBytes)
	case http.StatusBadRequest:
		if msg == "400 Bad Request" {
			msg = fmt.Sprintf("malformed HTTP request head, or not received within the server's %s header timeout", c.headerTimeout)
		}
	}
	js, _ := json.Marshal(map[string]string{"error": msg})
	js = append(js, '\n')
	out := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(js), js)
	if _, err := c.Conn.Write([]byte(out)); err != nil {
		return 0, err
	}
	return len(b), nil
}
