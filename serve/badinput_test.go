package serve

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pngBomb is a valid PNG start announcing side x side gray pixels, with a little of its
// (highly compressible) pixel data: decoding it would allocate side² bytes.
func pngBomb(t *testing.T, side uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		io.WriteString(c, typ)
		c.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], side)
	binary.BigEndian.PutUint32(ihdr[4:], side)
	ihdr[8] = 8 // bit depth; color type 0 (gray), no interlace
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 64*(int(side)+1))) // 64 rows of zeros
	zw.Close()
	chunk("IDAT", z.Bytes())
	return b.Bytes()
}

// rawHTTP sends head, then body at most chunk bytes every pause, on a new connection,
// and reads the answer.
func rawHTTP(t *testing.T, addr, head, body string, chunk int, pause time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		for i := 0; i < len(body); i += chunk {
			if _, err := io.WriteString(c, body[i:min(i+chunk, len(body))]); err != nil {
				return
			}
			time.Sleep(pause)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestBadInput: each kind of bad request gets its 4xx and {"error": ...} within the
// timeout, and the server keeps answering good requests meanwhile.
func TestBadInput(t *testing.T) {
	f := newFixture(t, 1)
	const timeout = time.Second
	s, err := New(Config{ModelDir: f.base, MaxBodyBytes: 1 << 20, MaxInstances: 4, Timeout: timeout,
		MaxConcurrent: 4, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	url := serveLoopback(t, s)
	addr := strings.TrimPrefix(url, "http://")
	predict := url + "/v1/models/xray:predict"
	good := mustJSON(t, map[string]any{"signature_name": "serving_bytes", "instances": b64s(f.files[:1])})
	bytesOf := func(instances ...string) []byte {
		return []byte(`{"signature_name":"serving_bytes","instances":[` + strings.Join(instances, ",") + `]}`)
	}
	cases := []struct {
		what, url, ctype string
		body             []byte
		code             int
		says             string
	}{
		{"garbage JSON", predict, "application/json", []byte("{not json"), 400, "not valid JSON"},
		{"wrong b64", predict, "application/json", bytesOf(`{"b64":"%%%"}`), 400, "not valid base64"},
		{"huge body", predict, "application/json", bytes.Repeat([]byte(" "), 2<<20), 413, "limit of 1048576 bytes"},
		{"zero-byte image", predict, "application/json", bytesOf(`{"b64":""}`), 400, "empty image"},
		{"zero-byte classify", url + "/v1/classify", "image/jpeg", nil, 400, "empty image"},
		{"not an image", url + "/v1/classify", "image/jpeg", []byte("hello"), 400, "image"},
		{"PNG bomb", url + "/v1/classify", "image/png", pngBomb(t, 30000), 413, "900000000 pixels"},
		{"wrong signature", predict, "application/json", []byte(`{"signature_name":"serve","instances":[{"b64":""}]}`), 400, `"serve" not found`},
		{"pixels of bytes", predict, "application/json", []byte(`{"instances":[{"b64":"AAAA"}]}`), 400, "serving_bytes"},
		{"too many", predict, "application/json", bytesOf(`{"b64":""}`, `{"b64":""}`, `{"b64":""}`, `{"b64":""}`, `{"b64":""}`), 400, "limit of 4"},
		{"no instances", predict, "application/json", bytesOf(), 400, "at least one"},
		{"unknown path", url + "/v2/anything", "", nil, 404, "no route"},
	}
	for _, c := range cases {
		start := time.Now()
		code, b := do(t, "POST", c.url, c.ctype, c.body, nil)
		var e map[string]string
		if code != c.code || json.Unmarshal(b, &e) != nil || !strings.Contains(e["error"], c.says) {
			t.Errorf("%s: %d %s, want %d with an error saying %q", c.what, code, b, c.code, c.says)
		}
		if d := time.Since(start); d > timeout {
			t.Errorf("%s: answered after %s, over the %s timeout", c.what, d, timeout)
		}
	}

	// HTTP/1.0: answered, good or bad.
	resp, b, err := rawHTTP(t, addr, "GET /v1/models/xray HTTP/1.0\r\n\r\n", "", 1, 0)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), "AVAILABLE") {
		t.Errorf("HTTP/1.0 GET: %v %v %s", resp, err, b)
	}
	resp, b, err = rawHTTP(t, addr, "POST /v1/classify HTTP/1.0\r\nContent-Length: 5\r\n\r\n", "hello", 5, 0)
	if err != nil || resp.StatusCode != 400 {
		t.Errorf("HTTP/1.0 bad POST: %v %v %s", resp, err, b)
	}

	// Slow loris: a body trickling in gets 408 at the timeout, while others are served.
	type answer struct {
		code int
		err  error
		d    time.Duration
	}
	slow := make(chan answer, 1)
	go func() {
		start := time.Now()
		head := fmt.Sprintf("POST /v1/models/xray:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(good))
		resp, _, err := rawHTTP(t, addr, head, string(good), 8, 200*time.Millisecond)
		if err != nil {
			slow <- answer{0, err, time.Since(start)}
			return
		}
		slow <- answer{resp.StatusCode, nil, time.Since(start)}
	}()
	time.Sleep(100 * time.Millisecond)
	if code, b := do(t, "POST", predict, "application/json", good, nil); code != 200 {
		t.Errorf("good request beside the slow one: %d %s", code, b)
	}
	if a := <-slow; a.err != nil || a.code != http.StatusRequestTimeout || a.d > 3*timeout {
		t.Errorf("slow body: %d %v after %s, want 408 within about %s", a.code, a.err, a.d, timeout)
	}
	if code, b := do(t, "POST", predict, "application/json", good, nil); code != 200 {
		t.Errorf("good request after the bad ones: %d %s", code, b)
	}
}

// TestConcurrencyLimit: requests beyond MaxConcurrent get 429 at once.
func TestConcurrencyLimit(t *testing.T) {
	f := newFixture(t, 1)
	s, err := New(Config{ModelDir: f.base, MaxConcurrent: 1, Timeout: 2 * time.Second, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	url := serveLoopback(t, s)
	held := make(chan struct{})
	go func() { // holds the only slot by sending its body slowly
		head := "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
		rawHTTP(t, strings.TrimPrefix(url, "http://"), head, strings.Repeat("x", 100), 1, 10*time.Millisecond)
		close(held)
	}()
	time.Sleep(200 * time.Millisecond)
	code, b := do(t, "POST", url+"/v1/classify", "image/jpeg", f.files[0], nil)
	if code != http.StatusTooManyRequests || !strings.Contains(string(b), "limit of 1 concurrent") {
		t.Errorf("second request: %d %s, want 429", code, b)
	}
	<-held
	if code, b := do(t, "POST", url+"/v1/classify", "image/jpeg", f.files[0], nil); code != 200 {
		t.Errorf("after the slot freed: %d %s", code, b)
	}
}

// TestErrorsAreJSON: the answers net/http and the mux would write as text or as a
// redirect (431, a slow or malformed head, 404 and 405 of the mux and the file server,
// paths with .., /v1/models) are {"error": ...} with application/json; /readyz answers
// 503 while the server drains, before the listener closes.
func TestErrorsAreJSON(t *testing.T) {
	f := newFixture(t, 1)
	s, err := New(Config{ModelDir: f.base, HeaderTimeout: 300 * time.Millisecond, DrainDelay: 2 * time.Second, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, 10*time.Second) }()
	defer func() { stop(); <-done }()

	big := "X-Big: " + strings.Repeat("a", MaxHeaderBytes+8192) + "\r\n"
	cases := []struct {
		what, head string
		code       int
		says       string
	}{
		{"431", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + "\r\n", 431, "limit of 1048576 bytes"},
		{"slow head", "", 400, "300ms header timeout"},
		{"malformed head", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed"},
		{"static 404", "GET /static/nothing.js HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not found"},
		{"static dir", "GET /static/ HTTP/1.1\r\nHost: x\r\n\r\n", 0, ""},
		{"/v1/models", "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 404, "name the model"},
		{"POST /v1/models", "POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404, "name the model"},
		{"..", "GET /v1/models/../v1/xray HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not canonical"},
		{"POST ..", "POST /v1/models/x/../xray:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404, "not canonical"},
		{"//", "GET //v1/xray HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not canonical"},
		{"wrong method", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404, "no route for POST /healthz"},
		{"index redirect", "GET /static/index.html HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no route"},
	}
	for _, c := range cases {
		resp, b, err := rawHTTP(t, addr, c.head, "", 1, 0)
		if c.head == "" { // the head trickles in, a byte every 50ms
			resp, b, err = rawHTTP(t, addr, "", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnop\r\n\r\n", 1, 50*time.Millisecond)
		}
		if err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		if c.code == 0 { // a directory listing or anything but a redirect
			if resp.StatusCode/100 == 3 {
				t.Errorf("%s: %d redirect", c.what, resp.StatusCode)
			}
			continue
		}
		var e map[string]string
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(b, &e) != nil || !strings.Contains(e["error"], c.says) {
			t.Errorf("%s: %d %q %s, want %d JSON saying %q", c.what, resp.StatusCode, resp.Header.Get("Content-Type"), b, c.code, c.says)
		}
	}

	// Draining: /readyz 503 (JSON) while other routes still answer.
	if code, b := do(t, "GET", "http://"+addr+"/readyz", "", nil, nil); code != 200 {
		t.Fatalf("/readyz before the drain: %d %s", code, b)
	}
	stop()
	deadline := time.Now().Add(time.Second)
	for {
		code, b := do(t, "GET", "http://"+addr+"/readyz", "", nil, nil)
		if code == 503 && strings.Contains(string(b), `"error":"draining`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while draining: %d %s, want 503", code, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, b := do(t, "GET", "http://"+addr+"/v1/models/xray", "", nil, nil); code != 200 {
		t.Errorf("status while draining: %d %s", code, b)
	}
}
