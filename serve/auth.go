package serve

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Security errors; cmd/xray names the flag that fixes each.
var (
	// ErrUnauthenticated: a request without a valid token (HTTP 401, gRPC UNAUTHENTICATED).
	ErrUnauthenticated = errors.New("missing or invalid credential")
	// ErrTokens: the token file cannot be used.
	ErrTokens = errors.New("bad token file")
	// ErrTLS: the certificate, key or client CA cannot be used.
	ErrTLS = errors.New("bad TLS files")
)

// tokens holds the SHA-256 of each accepted bearer token: the tokens themselves are not
// kept in memory, and hashing first makes every comparison the same length, so
// subtle.ConstantTimeCompare leaks neither a token's length nor its prefix.
type tokens struct{ sums [][sha256.Size]byte }

// loadTokens reads one token per line; blank lines and lines starting with # are skipped.
func loadTokens(path string) (*tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokens, err)
	}
	t := &tokens{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		tok := strings.TrimSpace(sc.Text())
		if tok == "" || strings.HasPrefix(tok, "#") {
			continue
		}
		if len(tok) < 16 || strings.ContainsAny(tok, " \t") {
			return nil, fmt.Errorf("%w: %s line %d: a token is one word of 16 characters or more (e.g. openssl rand -hex 32)", ErrTokens, path, line)
		}
		t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
	}
	clear(b)
	if len(t.sums) == 0 {
		return nil, fmt.Errorf("%w: %s holds no token (one per line)", ErrTokens, path)
	}
	return t, nil
}

// valid compares tok's hash with every accepted one, all of them every time.
func (t *tokens) valid(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range t.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return ok == 1
}

// Authenticate checks an Authorization header value ("Bearer TOKEN", or HTTP Basic with
// the token as the password, which is what a browser sends for the page): nil when it
// carries an accepted token or when the server has no token file (Config.AuthTokens),
// else an error matching ErrUnauthenticated. Every HTTP route but the open health ones
// (Config.AuthHealth) goes through it; a gRPC service calls it from its interceptor with
// the "authorization" metadata value:
//
//	if err := s.Authenticate(first(md.Get("authorization"))); err != nil {
//		return nil, status.Error(codes.Unauthenticated, err.Error())
//	}
func (s *Server) Authenticate(authorization string) error {
	if s.tokens == nil {
		return nil
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	var tok string
	switch strings.ToLower(scheme) {
	case "bearer":
		tok = strings.TrimSpace(cred)
	case "basic":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return fmt.Errorf("%w: Basic credential is not base64", ErrUnauthenticated)
		}
		_, tok, _ = strings.Cut(string(b), ":")
	case "":
		return fmt.Errorf("%w: send the header Authorization: Bearer <token>", ErrUnauthenticated)
	default:
		return fmt.Errorf("%w: Authorization scheme %q: use Bearer <token>", ErrUnauthenticated, scheme)
	}
	if tok == "" || !s.tokens.valid(tok) {
		return fmt.Errorf("%w: the token is not one of the server's", ErrUnauthenticated)
	}
	return nil
}

// OpenPath says whether an HTTP path is served without a token: the health and metrics
// paths (TensorFlow Serving's none, ours and KServe's v2 health) unless Config.AuthHealth.
func (s *Server) OpenPath(path string) bool {
	if s.tokens == nil {
		return true
	}
	if s.cfg.AuthHealth {
		return false
	}
	switch path {
	case "/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready":
		return true
	}
	return false
}

// TLSConfig is the server's TLS configuration (nil without Config.TLSCert): the
// certificate is re-read when its files change, and with Config.ClientCA every client
// must present a certificate that CA signed. A gRPC listener uses it as it is
// (credentials.NewTLS(s.TLSConfig())).
func (s *Server) TLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// newTLSConfig loads the key pair (and client CA) once to report bad files at start.
func newTLSConfig(cert, key, clientCA string, log *slog.Logger) (*tls.Config, error) {
	if cert == "" && key == "" {
		if clientCA != "" {
			return nil, fmt.Errorf("%w: a client CA needs a server certificate and key", ErrTLS)
		}
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, fmt.Errorf("%w: give both the certificate and its key", ErrTLS)
	}
	r := &certReloader{cert: cert, key: key, log: log}
	if _, err := r.get(nil); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("%w: client CA: %v", ErrTLS, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: client CA %s holds no PEM certificate", ErrTLS, clientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// certReloader serves the key pair, loading it again when either file's size or
// modification time changes (a renewed certificate is used without a restart). A pair
// that fails to load (a copy half done) keeps the previous one in use, logged.
type certReloader struct {
	cert, key string
	log       *slog.Logger

	mu    sync.Mutex
	stamp string
	pair  *tls.Certificate
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp := fileStamp(r.cert) + "|" + fileStamp(r.key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if stamp == r.stamp && r.pair != nil {
		return r.pair, nil
	}
	pair, err := tls.LoadX509KeyPair(r.cert, r.key)
	if err != nil {
		if r.pair != nil {
			r.log.Error("TLS certificate not reloaded; the previous one stays in use", "cert", r.cert, "error", err)
			r.stamp = stamp // do not retry every handshake until the files change again
			return r.pair, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrTLS, err)
	}
	if r.pair != nil {
		r.log.Info("TLS certificate reloaded", "cert", r.cert)
	}
	r.stamp, r.pair = stamp, &pair
	return r.pair, nil
}

func fileStamp(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d %d", st.Size(), st.ModTime().UnixNano())
}
