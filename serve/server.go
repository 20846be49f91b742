package serve

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/preprocess/dicom"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/kserve"
	"github.com/xraylab/xray/serve/protocol"
	"github.com/xraylab/xray/serve/tfserving"
	"github.com/xraylab/xray/serve/versions"
)

// Config configures a Server. Zero fields take the defaults below.
type Config struct {
	ModelDir string          // a TensorFlow Serving model base (numbered versions) or one SavedModel
	Name     string          // the model name in REST paths (default "xray")
	Policy   versions.Policy // which versions of ModelDir to serve (default: the latest)
	// Models, when set, replaces ModelDir, Name and Policy: several models (see
	// versions.ReadModelConfig); the first is the one /v1/classify and the page use.
	Models []versions.ModelConfig
	Poll   time.Duration // how often to look for a new version (default 10s; negative: never)

	MaxBatch int           // images per session run (savedmodels.Options.MaxBatch)
	MaxDelay time.Duration // batching wait (savedmodels.Options.MaxDelay)

	DICOMWindow *dicom.Window // DICOM to 8-bit gray; nil: each model's own (savedmodels.Options.DICOMWindow)

	MaxBodyBytes  int64         // request body limit (default 20 MiB)
	MaxPixels     int64         // width x height limit of one image, read from its header (default and most: preprocess.MaxPixels)
	MaxInstances  int           // images per request (default 64)
	Timeout       time.Duration // per request, reading the body included (default 30s)
	HeaderTimeout time.Duration // to receive a request's head (default 10s; then 400)
	MaxConcurrent int           // requests served at once; more get 429 (default 64)

	// Security (see Authenticate, TLSConfig). Without TLSCert the server speaks plain HTTP.
	TLSCert, TLSKey string // PEM certificate (chain) and key files; re-read when they change
	ClientCA        string // PEM CA file: clients must present a certificate it signed (mutual TLS)
	AuthTokens      string // file of accepted bearer tokens, one per line; "" serves without tokens
	AuthHealth      bool   // /healthz, /readyz, /metrics (and v2 health) need the token too

	// DrainDelay: on shutdown, /readyz answers 503 for this long while everything is
	// still served, so that a load balancer stops sending before the listener closes.
	DrainDelay time.Duration

	SessionConfig []byte       // serialized tensorflow.ConfigProto (savedmodels.Options.SessionConfig)
	JIT           bool         // compile the network with XLA (savedmodels.Options.JIT)
	Logger        *slog.Logger // access and model logs (default slog.Default())
}

// Defaults of Config.
const (
	DefaultName          = "xray"
	DefaultPoll          = 10 * time.Second
	DefaultMaxBodyBytes  = 20 << 20
	DefaultMaxPixels     = preprocess.MaxPixels
	DefaultMaxInstances  = 64
	DefaultTimeout       = 30 * time.Second
	DefaultHeaderTimeout = 10 * time.Second
	MaxHeaderBytes       = 1 << 20 // a request head over this gets 431
	DefaultMaxConcurrent = 64
)

func (c *Config) fill() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	def(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&c.MaxPixels, DefaultMaxPixels)
	c.MaxPixels = min(c.MaxPixels, preprocess.MaxPixels) // the decoder's own cap: one limit
	def((*int64)(&c.Timeout), int64(DefaultTimeout))
	def((*int64)(&c.HeaderTimeout), int64(DefaultHeaderTimeout))
	if c.MaxInstances <= 0 {
		c.MaxInstances = DefaultMaxInstances
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server serves one model over HTTP. Make it with New; Close releases the model.
type Server struct {
	cfg      Config
	metrics  *metrics
	slots    chan struct{} // one per request being served (MaxConcurrent)
	draining atomic.Bool
	handler  http.Handler
	models   *versions.Manager            // the first model (classify, page, Version)
	byName   map[string]*versions.Manager // every model by name
	all      []*versions.Manager          // in the configuration's order
	tokens   *tokens                      // nil: no token needed
	tls      *tls.Config                  // nil: plain HTTP
}

// New loads the newest version under cfg.ModelDir and warms it up. Its error matches
// versions.ErrNoModel when nothing there loads, or wraps the *savedmodels.LoadError; ErrTokens or
// ErrTLS for unusable security files.
func New(cfg Config) (*Server, error) {
	cfg.fill()
	s := &Server{cfg: cfg, metrics: newMetrics(), slots: make(chan struct{}, cfg.MaxConcurrent)}
	var err error
	if cfg.AuthTokens != "" {
		if s.tokens, err = loadTokens(cfg.AuthTokens); err != nil {
			return nil, err
		}
	}
	if s.tls, err = newTLSConfig(cfg.TLSCert, cfg.TLSKey, cfg.ClientCA, cfg.Logger); err != nil {
		return nil, err
	}
	opts := savedmodels.Options{MaxBatch: cfg.MaxBatch, MaxDelay: cfg.MaxDelay, SessionConfig: cfg.SessionConfig, JIT: cfg.JIT, DICOMWindow: cfg.DICOMWindow}
	models := cfg.Models
	if len(models) == 0 {
		models = []versions.ModelConfig{{Name: cfg.Name, BasePath: cfg.ModelDir, Policy: cfg.Policy}}
	}
	s.cfg.Name = models[0].Name
	var ms []*versions.Manager
	mt := versions.Metrics{Loads: s.metrics.loads, Version: s.metrics.version, Ready: s.metrics.ready}
	for _, mc := range models {
		m, err := versions.New(mc, opts, cfg.Logger, mt)
		if err != nil {
			for _, m := range ms {
				m.Close()
			}
			return nil, err
		}
		ms = append(ms, m)
	}
	s.models, s.byName = ms[0], map[string]*versions.Manager{}
	for _, m := range ms {
		s.byName[m.Name()] = m
	}
	s.all = ms
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's HTTP handler (REST API, page, health, metrics), with the
// token check; TLS is Serve's (or the caller's, with TLSConfig).
func (s *Server) Handler() http.Handler { return s.handler }

// Version is the model version being served (0 after Close).
func (s *Server) Version() int64 {
	v, release := s.models.Acquire(0)
	defer release()
	if v == nil {
		return 0
	}
	return v.N
}

// Watch looks for a new version every Config.Poll until ctx is done; Serve runs it. A
// service that mounts Handler in its own http.Server runs it itself.
func (s *Server) Watch(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range s.all {
		wg.Add(1)
		go func() { defer wg.Done(); m.Watch(ctx, s.cfg.Poll) }()
	}
	wg.Wait()
}

// Close releases the model versions once their requests are done.
func (s *Server) Close() error {
	for _, m := range s.all {
		m.Close()
	}
	return nil
}

// ready says whether every model has a version to serve, and if not which lacks one.
func (s *Server) ready() (bool, string) {
	for _, m := range s.all {
		if m.Latest() == nil {
			return false, fmt.Sprintf("model %s has no version loaded", m.Name())
		}
	}
	return true, ""
}

// Serve serves on ln (with TLS when configured) until ctx is done, then drains: /readyz
// turns 503 for Config.DrainDelay, the listener closes, and in-flight requests get up
// to drain to finish. It returns nil after a complete drain; the model is closed either way.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.HeaderTimeout, // slow headers; slow bodies meet Config.Timeout
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	if s.tls != nil {
		// TLS under errorConns, which rewrites net/http's own plain-text errors as JSON;
		// the server then sees no *tls.Conn, so REST over TLS is HTTP/1.1.
		ln = tls.NewListener(ln, s.tls)
	}
	ln = errorConns{ln, s.cfg.HeaderTimeout}
	pollCtx, stopPoll := context.WithCancel(ctx)
	polling := make(chan struct{})
	go func() { defer close(polling); s.Watch(pollCtx) }()
	closeModels := func() { // no poll may load a version once the models are closed
		stopPoll()
		<-polling
		s.Close()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		closeModels()
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.cfg.Logger.Info("draining", "timeout", drain.String(), "not_ready_for", s.cfg.DrainDelay.String())
	time.Sleep(s.cfg.DrainDelay)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(dctx)
	closeModels()
	if err != nil {
		return fmt.Errorf("drain: requests still running after %s: %w", drain, err)
	}
	s.cfg.Logger.Info("stopped")
	return nil
}

// routes maps the paths; see the package doc. Every route goes through chain (access
// log, JSON errors, path guard, token); api adds the request limits.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(name string, h protocol.Handler) http.Handler { return named(name, s.limit(h)) }
	rt := protocol.Router{Mux: mux, API: api, Probe: func(name string, h http.HandlerFunc) http.Handler { return named(name, h) }}
	tfserving.Routes(rt, backend{s}) // TensorFlow Serving's REST API
	mux.Handle("/v1/models", api("model", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "malformed request: %s /v1/models: name the model, /v1/models/%s", r.Method, s.cfg.Name)
	}))
	mux.Handle("POST /v1/classify", api("classify", s.classify))
	mux.Handle("GET /v1/xray", api("info", s.info))
	mux.Handle("GET /healthz", named("healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /readyz", named("readyz", http.HandlerFunc(s.readyz)))
	mux.Handle("GET /metrics", named("metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	mux.Handle("GET /{$}", named("page", http.HandlerFunc(s.page)))
	mux.Handle("GET /static/", named("page", http.FileServerFS(pageFS)))
	kserve.Routes(rt, backend{s}) // Open Inference Protocol (KServe v2)
	mux.Handle("/", api("other", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "no route for %s %s: see GET / or /v1/models/%s", r.Method, r.URL.Path, s.cfg.Name)
	}))
	return s.chain(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, why := s.ready()
	switch {
	case s.draining.Load():
		writeError(w, errorf(http.StatusServiceUnavailable, "draining: the server is shutting down"))
	case !ok:
		writeError(w, errorf(http.StatusServiceUnavailable, "%s", why))
	default:
		v := s.models.Latest()
		fmt.Fprintf(w, "ready: version %d\n", v.N)
	}
}

// Error is an API error: the HTTP status and the message sent as {"error": message},
// TensorFlow Serving's error format (protocol.Error, which every protocol answers).
type Error = protocol.Error

// The protocol package's helpers under the names the core's handlers use.
var (
	errorf     = protocol.Errorf
	badRequest = protocol.BadRequest
	writeJSON  = protocol.WriteJSON
	writeError = protocol.WriteError
)
