package serve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a test CA with helpers to issue certificates, written as PEM files.
type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), cert: c, key: key, pool: x509.NewCertPool()}
	p.pool.AddCert(c)
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue signs a leaf certificate (serial n) for 127.0.0.1, writes NAME.pem and
// NAME-key.pem, and returns it as a tls.Certificate.
func (p *pki) issue(t *testing.T, name string, serial int64, client bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, filepath.Join(p.dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(p.dir, name+"-key.pem"), "PRIVATE KEY", kder)
	pair, err := tls.LoadX509KeyPair(filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// writeTokens writes a token file and returns its path.
func writeTokens(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	token1 = "0123456789abcdef-first-token"
	token2 = "fedcba9876543210-second-token"
)

// TestMutualTLS: with a CA-signed server certificate and a client CA, a client holding a
// certificate of that CA is served; one without a certificate, or with one from another
// CA, fails the handshake; a certificate replaced on disk is served from the next
// connection on; a broken replacement keeps the previous one.
func TestMutualTLS(t *testing.T) {
	f := newFixture(t, 1)
	ca, other := newPKI(t, "xray test CA"), newPKI(t, "another CA")
	ca.issue(t, "server", 10, false)
	client := ca.issue(t, "client", 20, true)
	stranger := other.issue(t, "client", 30, true)
	var logs syncBuffer
	s, err := New(Config{ModelDir: f.base, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		TLSCert: filepath.Join(ca.dir, "server.pem"), TLSKey: filepath.Join(ca.dir, "server-key.pem"),
		ClientCA: filepath.Join(ca.dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(serveLoopback(t, s), "http://", "https://", 1)
	get := func(certs []tls.Certificate) (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: ca.pool, Certificates: certs}}}
		resp, err := c.Get(url + "/v1/models/xray")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := get([]tls.Certificate{client})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("client with the CA's certificate: %v %v", resp, err)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 10 {
		t.Errorf("server certificate serial %d, want 10", got)
	}
	for what, certs := range map[string][]tls.Certificate{"no certificate": nil, "another CA's certificate": {stranger}} {
		if resp, err := get(certs); err == nil {
			t.Errorf("%s: served (%d), want a failed handshake", what, resp.StatusCode)
		}
	}
	if resp, err := http.Get(strings.Replace(url, "https://", "http://", 1) + "/v1/models/xray"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP served on the TLS port")
	}

	// Renewal: a new certificate (serial 11) on disk is used by the next connection.
	time.Sleep(10 * time.Millisecond) // a distinct modification time on coarse clocks
	ca.issue(t, "server", 11, false)
	if resp, err := get([]tls.Certificate{client}); err != nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 11 {
		t.Fatalf("after renewal: %v %v, want serial 11", resp, err)
	}
	// A half-written certificate keeps the one in use.
	if err := os.WriteFile(filepath.Join(ca.dir, "server.pem"), []byte("-----BEGIN CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, err := get([]tls.Certificate{client}); err != nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 11 {
		t.Fatalf("after a broken replacement: %v %v, want serial 11 still", resp, err)
	}
	if !strings.Contains(logs.String(), "TLS certificate not reloaded") {
		t.Error("the broken replacement is not logged")
	}

	// Bad files are refused at start with ErrTLS.
	for what, cfg := range map[string]Config{
		"key missing":    {TLSCert: filepath.Join(ca.dir, "server.pem")},
		"cert garbage":   {TLSCert: filepath.Join(ca.dir, "server.pem"), TLSKey: filepath.Join(ca.dir, "client-key.pem")},
		"CA, no cert":    {ClientCA: filepath.Join(ca.dir, "ca.pem")},
		"CA not PEM":     {TLSCert: filepath.Join(ca.dir, "client.pem"), TLSKey: filepath.Join(ca.dir, "client-key.pem"), ClientCA: filepath.Join(ca.dir, "client-key.pem")},
		"CA file gone":   {TLSCert: filepath.Join(ca.dir, "client.pem"), TLSKey: filepath.Join(ca.dir, "client-key.pem"), ClientCA: filepath.Join(ca.dir, "nothing.pem")},
		"cert file gone": {TLSCert: filepath.Join(ca.dir, "nothing.pem"), TLSKey: filepath.Join(ca.dir, "client-key.pem")},
	} {
		cfg.ModelDir, cfg.Logger = f.base, discard()
		if _, err := New(cfg); !errors.Is(err, ErrTLS) {
			t.Errorf("%s: %v, want ErrTLS", what, err)
		}
	}
}

// TestAuthTokens: with a token file every API, metadata and page route answers 401
// (JSON, WWW-Authenticate) without an accepted token and serves with either token, as
// Bearer or as a Basic password; health and metrics are open unless AuthHealth. The
// access log holds no token, no request body and no DICOM patient tag.
func TestAuthTokens(t *testing.T) {
	f := newFixture(t, 1)
	dcm, err := os.ReadFile(filepath.Join("..", "testdata", "dicom", "mono2_8bit.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := writeTokens(t, "# clients", token1, "", "  "+token2+"  ")
	var logs syncBuffer
	_, hs := f.start(t, Config{AuthTokens: tokens, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	const marker = "request-body-marker-7f3a"
	predict := mustJSON(t, map[string]any{"signature_name": "serving_bytes", "instances": b64s([][]byte{dcm}), "note": marker})
	routes := []struct {
		method, path, ctype string
		body                []byte
	}{
		{"GET", "/v1/models/xray", "", nil},
		{"GET", "/v1/models/xray/versions/1", "", nil},
		{"GET", "/v1/models/xray/metadata", "", nil},
		{"POST", "/v1/models/xray:predict", "application/json", predict},
		{"POST", "/v1/classify", "application/dicom", dcm},
		{"GET", "/v1/xray", "", nil},
		{"GET", "/", "", nil},
		{"GET", "/static/page.js", "", nil},
		{"GET", "/nowhere", "", nil},
	}
	send := func(method, path, ctype, auth string, body []byte) (int, http.Header, []byte) {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(string(body)))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	basic := func(user, pass string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	for _, r := range routes {
		for _, bad := range []string{"", "Bearer", "Bearer wrong-token-0123456789", "Bearer " + token1 + "x",
			"Token " + token1, basic("u", "wrong-token-0123456789")} {
			code, h, b := send(r.method, r.path, r.ctype, bad, r.body)
			var e map[string]string
			if code != 401 || json.Unmarshal(b, &e) != nil || !strings.Contains(e["error"], "credential") ||
				!strings.HasPrefix(h.Get("Content-Type"), "application/json") || len(h.Values("WWW-Authenticate")) != 2 {
				t.Errorf("%s %s with %q: %d %v %s, want 401 JSON with WWW-Authenticate", r.method, r.path, bad, code, h, b)
			}
		}
		for _, good := range []string{"Bearer " + token1, "bearer " + token2, basic("anyone", token2)} {
			if code, _, b := send(r.method, r.path, r.ctype, good, r.body); code == 401 || (code != 200 && r.path != "/nowhere") {
				t.Errorf("%s %s with a good token: %d %s", r.method, r.path, code, b)
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _, b := send("GET", p, "", "", nil); code != 200 {
			t.Errorf("open %s: %d %s", p, code, b)
		}
	}
	_, closed := f.start(t, Config{AuthTokens: tokens, AuthHealth: true})
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := do(t, "GET", closed.URL+p, "", nil, nil); code != 401 {
			t.Errorf("AuthHealth %s: %d, want 401", p, code)
		}
	}

	log := logs.String()
	if !strings.Contains(log, `"status":401`) || !strings.Contains(log, `"path":"/v1/classify"`) {
		t.Fatalf("the access log lacks the requests: %s", log)
	}
	for _, secret := range []string{token1, token2, marker, "Test^Patient", "TEST-0001", "Patient", "Authorization"} {
		if strings.Contains(log, secret) {
			t.Errorf("the access log holds %q", secret)
		}
	}
}

// TestTokenFile: unusable token files are refused at start with ErrTokens; the check
// itself is exact (no prefix, no extension, no other case).
func TestTokenFile(t *testing.T) {
	for what, lines := range map[string][]string{
		"empty":         {},
		"only comments": {"# nothing", ""},
		"short token":   {"short"},
		"two words":     {"0123456789abcdef 0123456789abcdef"},
	} {
		if _, err := loadTokens(writeTokens(t, lines...)); !errors.Is(err, ErrTokens) {
			t.Errorf("%s: %v, want ErrTokens", what, err)
		}
	}
	if _, err := loadTokens(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, ErrTokens) {
		t.Errorf("absent file: %v", err)
	}
	tk, err := loadTokens(writeTokens(t, token1, token2))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{tokens: tk}
	for tok, want := range map[string]bool{token1: true, token2: true, token1[:20]: false, token1 + "0": false,
		strings.ToUpper(token1): false, "": false} {
		if err := s.Authenticate("Bearer " + tok); (err == nil) != want || (err != nil && !errors.Is(err, ErrUnauthenticated)) {
			t.Errorf("token %q: %v, want accepted %v", tok, err, want)
		}
	}
	if err := (&Server{}).Authenticate(""); err != nil {
		t.Errorf("no token file: %v, want every request accepted", err)
	}
}
