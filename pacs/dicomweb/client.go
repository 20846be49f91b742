package dicomweb

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Errors of the DICOMweb client, matched with errors.Is.
var (
	// ErrUnauthorized: the PACS answered 401 or 403 (wrong or missing credentials, or a
	// user without the right). Retrying cannot help.
	ErrUnauthorized = errors.New("the PACS refused the credentials")
	// ErrUnavailable: the PACS could not be reached, or kept failing (5xx, timeouts),
	// after the retries.
	ErrUnavailable = errors.New("the PACS is unavailable")
	// ErrTooLarge: a response (a retrieved instance) exceeds Options.MaxInstanceBytes;
	// it was refused before being read whole.
	ErrTooLarge = errors.New("instance larger than the size limit")
)

// HTTPError is a PACS answer other than success: the method, the URL's path and the
// status. It matches ErrUnauthorized for 401 and 403, ErrUnavailable for 5xx.
type HTTPError struct {
	Method, Path string
	Status       int
	Body         string // the start of the answer, for the PACS's own reason
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Is makes the status classes match the package's errors.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}

// Options configure a Client. The zero value talks to an open PACS with the defaults.
type Options struct {
	User, Password string      // HTTP basic authentication
	Token          string      // bearer token (instead of User/Password)
	TLS            *tls.Config // for https URLs: roots, client certificate; nil: the system's
	// Timeout bounds one request, body included (default 2 minutes).
	Timeout time.Duration
	// MaxInstanceBytes bounds a retrieved instance (default 256 MiB): larger ones are
	// refused from their Content-Length, or once that many bytes have arrived.
	MaxInstanceBytes int64
	// Retries is how many times a request failing with 5xx, 429, a timeout or a refused
	// connection is tried again (default 4; negative: none), after Backoff, doubled each
	// time, with jitter (default 500 ms).
	Retries int
	Backoff time.Duration
	Logger  *slog.Logger // retries are logged at Warn; nil: discarded
}

// Defaults of Options.
const (
	DefaultTimeout          = 2 * time.Minute
	DefaultMaxInstanceBytes = 256 << 20
	DefaultRetries          = 4
	DefaultBackoff          = 500 * time.Millisecond
	maxQueryBytes           = 64 << 20 // a QIDO or STOW answer
)

// Client speaks DICOMweb (QIDO-RS, WADO-RS, STOW-RS) to one PACS. It is safe for
// concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	opts Options
	log  *slog.Logger
}

// NewClient returns a client for the DICOMweb service at baseURL (e.g.
// http://pacs:8042/dicom-web).
func NewClient(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("DICOMweb URL %q: give http(s)://host[:port]/path, e.g. http://localhost:8042/dicom-web", baseURL)
	}
	if o.Token != "" && (o.User != "" || o.Password != "") {
		return nil, errors.New("give either a user and password or a token, not both")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxInstanceBytes <= 0 {
		o.MaxInstanceBytes = DefaultMaxInstanceBytes
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// All requests go to one host: keep a connection per worker rather than the default 2
	// (more workers would otherwise open and close a connection per request).
	tr.MaxIdleConnsPerHost = 64
	if o.TLS != nil {
		tr.TLSClientConfig = o.TLS
	}
	return &Client{base: u, http: &http.Client{Transport: tr, Timeout: o.Timeout}, opts: o, log: log}, nil
}

// URL is the service's base URL without credentials.
func (c *Client) URL() string { return c.base.Redacted() }

// request is one HTTP exchange; do retries it.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	accept       string
	limit        int64 // the most response bytes read
}

// do sends r, retrying transient failures, and returns the response body and header.
func (c *Client) do(ctx context.Context, r request) ([]byte, http.Header, error) {
	wait := c.opts.Backoff
	for attempt := 0; ; attempt++ {
		body, h, err := c.once(ctx, r)
		if err == nil || !transient(err) || attempt >= c.opts.Retries || ctx.Err() != nil {
			if err != nil && transient(err) && !errors.Is(err, ErrUnavailable) {
				err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return body, h, err
		}
		d := wait/2 + rand.N(wait)
		c.log.Warn("PACS request failed; retrying", "path", r.path, "attempt", attempt+1, "in", d.Round(time.Millisecond), "error", err)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(d):
		}
		wait *= 2
	}
}

// transient reports failures worth retrying: 5xx, 429, network errors and timeouts.
func transient(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests
	}
	var unknownCA x509.UnknownAuthorityError
	var badCert *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &badCert) {
		return false // a certificate does not get better by asking again
	}
	return !errors.Is(err, ErrTooLarge) && !errors.Is(err, context.Canceled)
}

func (c *Client) once(ctx context.Context, r request) ([]byte, http.Header, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the answer: %w", r.method, r.path, err)
	}
	if int64(len(b)) > r.limit {
		return nil, nil, fmt.Errorf("%s %s: %w: over %d bytes", r.method, r.path, ErrTooLarge, r.limit)
	}
	return b, resp.Header, nil
}

// send makes one attempt at r and returns the response if its status is 2xx and its
// announced length within r.limit (when positive); the caller reads and closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := *c.base
	u.Path += r.path
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("Accept", r.accept)
	switch {
	case c.opts.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	case c.opts.User != "" || c.opts.Password != "":
		req.SetBasicAuth(c.opts.User, c.opts.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, errors.Unwrap(err))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, &HTTPError{Method: r.method, Path: r.path, Status: resp.StatusCode, Body: oneLine(string(snippet))}
	}
	if r.limit > 0 && resp.ContentLength > r.limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %w: %d bytes announced, limit %d", r.method, r.path, ErrTooLarge, resp.ContentLength, r.limit)
	}
	return resp, nil
}

// oneLine keeps the first line of a server's error text, trimmed.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
