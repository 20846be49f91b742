package dicomweb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetrieveRefusesHugeBeforeReadingIt: an instance streamed without a Content-Length
// is cut off at the size limit, so the client never holds more than that; the server sees
// its writes fail long before the body's end. One with a Content-Length over the limit is
// refused without reading.
func TestRetrieveRefusesHugeBeforeReadingIt(t *testing.T) {
	const limit = 1 << 20
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=b`)
		if strings.HasSuffix(r.URL.Path, "/announced") {
			w.Header().Set("Content-Length", "1000000000")
			return
		}
		writeGiB(w, &written)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, Options{MaxInstanceBytes: limit, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Retrieve(context.Background(), Instance{Study: "1", Series: "2", SOP: "3"})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("streamed 1 GiB: %v, want ErrTooLarge", err)
	}
	srv.CloseClientConnections()
	if n := written.Load(); n > 64<<20 {
		t.Errorf("the server wrote %d bytes before the client stopped: it read far past the %d limit", n, limit)
	}
	_, err = c.Retrieve(context.Background(), Instance{Study: "1", Series: "2", SOP: "announced"})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "announced") {
		t.Errorf("Content-Length 1e9: %v, want ErrTooLarge from the header", err)
	}
}

// writeGiB writes 1 GiB of zeros to w, counting what was written, unless the client
// stops reading first.
func writeGiB(w http.ResponseWriter, written *atomic.Int64) {
	chunk := make([]byte, 64<<10)
	for range 16384 {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		written.Add(int64(len(chunk)))
	}
}

// TestRetrieveSeriesStreamsBounded: a series' parts reach f one by one as they arrive;
// a part over the size limit ends the retrieval with ErrTooLarge once the limit has
// arrived, long before the server has written it whole.
func TestRetrieveSeriesStreamsBounded(t *testing.T) {
	const limit = 1 << 20
	var written atomic.Int64
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=b`)
		for _, p := range []string{"first", "second"} {
			fmt.Fprintf(w, "--b\r\nContent-Type: application/dicom\r\n\r\n%s\r\n", p)
		}
		w.Write([]byte("--b\r\nContent-Type: application/dicom\r\n\r\n"))
		writeGiB(w, &written) // a third part
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, Options{MaxInstanceBytes: limit, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = c.RetrieveSeries(context.Background(), "1.2", "3.4", func(b []byte) error {
		got = append(got, string(b))
		return nil
	})
	if !errors.Is(err, ErrTooLarge) || strings.Join(got, ",") != "first,second" {
		t.Fatalf("got parts %q and %v; want first, second, then ErrTooLarge", got, err)
	}
	if p := path.Load(); p != "/studies/1.2/series/3.4" {
		t.Errorf("asked for %v, want the series' WADO-RS path", p)
	}
	srv.CloseClientConnections()
	if n := written.Load(); n > 64<<20 {
		t.Errorf("the server wrote %d bytes before the client stopped: it read far past the %d limit", n, limit)
	}
}

// TestRetries: 503 answers are retried with backoff until success; 401 is not retried and
// matches ErrUnauthorized; a server that stays down ends in ErrUnavailable; the bearer
// token and basic credentials are sent as asked.
func TestRetries(t *testing.T) {
	var calls atomic.Int32
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		n := calls.Add(1)
		switch {
		case strings.HasPrefix(r.URL.Path, "/denied"):
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasPrefix(r.URL.Path, "/down"), n < 3:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "application/dicom+json")
			w.Write([]byte(`[{"0020000D":{"vr":"UI","Value":["1.2.3"]},"00201208":{"vr":"IS","Value":[7]}}]`))
		}
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, Options{Token: "tok", Retries: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Studies(context.Background(), StudyQuery{Modality: "DX"})
	if err != nil || len(st) != 1 || st[0].UID != "1.2.3" || st[0].Instances != 7 || calls.Load() != 3 {
		t.Fatalf("after two 503s: %v %+v, %d calls; want the study on the third", err, st, calls.Load())
	}
	if a := auth.Load(); a != "Bearer tok" {
		t.Errorf("Authorization %q, want the bearer token", a)
	}
	calls.Store(10)
	down, _ := NewClient(srv.URL+"/down", Options{User: "u", Password: "p", Retries: 2, Backoff: time.Millisecond})
	if _, err := down.Studies(context.Background(), StudyQuery{}); !errors.Is(err, ErrUnavailable) || calls.Load() != 13 {
		t.Errorf("always 503: %v after %d calls; want ErrUnavailable after 3", err, calls.Load()-10)
	}
	if a := auth.Load(); a != "Basic dTpw" {
		t.Errorf("Authorization %q, want basic u:p", a)
	}
	calls.Store(10)
	denied, _ := NewClient(srv.URL+"/denied", Options{Retries: 3, Backoff: time.Millisecond})
	if _, err := denied.Studies(context.Background(), StudyQuery{}); !errors.Is(err, ErrUnauthorized) || calls.Load() != 11 {
		t.Errorf("401: %v after %d calls; want ErrUnauthorized at once", err, calls.Load()-10)
	}
}

// TestTLS: an https PACS is reached with the roots given in Options.TLS and refused
// without them.
func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, _ := NewClient(srv.URL, Options{TLS: &tls.Config{RootCAs: pool}, Retries: -1})
	if st, err := c.Studies(context.Background(), StudyQuery{}); err != nil || len(st) != 0 {
		t.Errorf("with the server's root: %v %v", st, err)
	}
	c, _ = NewClient(srv.URL, Options{Retries: -1})
	if _, err := c.Studies(context.Background(), StudyQuery{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without it: %v, want a certificate error", err)
	}
}
