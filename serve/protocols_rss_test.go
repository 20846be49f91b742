package serve

import (
	"bytes"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// vmKB reads a kB field of /proc/self/status (VmRSS, VmHWM) in bytes.
func vmKB(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}

// TestV2HugeBodiesStayBounded: 18 MB v2 infer bodies of 9 million FP32 zeros, 6 million
// empty BYTES strings in JSON, or 4.5 million empty binary BYTES elements are refused
// with 400 while the process's peak RSS grows by less than 64 MB.
func TestV2HugeBodiesStayBounded(t *testing.T) {
	f := newFixture(t, 1)
	_, hs := f.start(t, Config{})
	url := hs.URL + "/v2/models/xray/infer"
	raw := make([]byte, 18<<20) // 4.7 million zero lengths
	rawHead := `{"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":` + strconv.Itoa(len(raw)) + `}}]}`
	for _, c := range []struct{ what, header, body string }{
		{"FP32 JSON", "", `{"inputs":[{"name":"image","datatype":"FP32","shape":[64,32,32,3],"data":[` + strings.Repeat("0,", 9_000_000) + `0]}]}`},
		{"BYTES JSON", "", `{"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[6000000],"data":[` + strings.Repeat(`"",`, 6_000_000) + `""]}]}`},
		{"BYTES binary", strconv.Itoa(len(rawHead)), rawHead + string(raw)},
	} {
		body := []byte(c.body)
		debug.FreeOSMemory() // the heap the case before freed must not hide this one's growth
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Skipf("cannot reset the peak RSS (VmHWM): %v", err)
		}
		before := vmKB(t, "VmRSS")
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		if c.header != "" {
			req.Header.Set("Inference-Header-Content-Length", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		peak := vmKB(t, "VmHWM") - before
		t.Logf("%s (%.1f MB): %d, peak RSS +%.1f MB", c.what, float64(len(body))/(1<<20), resp.StatusCode, float64(peak)/(1<<20))
		if resp.StatusCode != http.StatusBadRequest || peak >= 64<<20 {
			t.Errorf("%s: %d with peak RSS +%.0f MB, want 400 within 64 MB", c.what, resp.StatusCode, float64(peak)/(1<<20))
		}
	}
}
