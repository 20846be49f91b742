package serve

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsAndAccessLog: /metrics parses as Prometheus text with the requests made,
// by handler and code, and the model's state; every request has one JSON log line.
func TestMetricsAndAccessLog(t *testing.T) {
	f := newFixture(t, 1)
	var logs syncBuffer
	_, hs := f.start(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for range 3 {
		if code, b := do(t, "POST", hs.URL+"/v1/classify", "image/jpeg", f.files[0], nil); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	if code, _ := do(t, "POST", hs.URL+"/v1/classify", "image/jpeg", []byte("not an image"), nil); code != 400 {
		t.Fatalf("bad image: %d", code)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		fam := fams[name]
		if fam == nil {
			t.Fatalf("no %s in /metrics", name)
		}
	next:
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			switch fam.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		t.Fatalf("no %s%v in /metrics", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"xray_http_requests_total", map[string]string{"handler": "classify", "code": "200"}, 3},
		{"xray_http_requests_total", map[string]string{"handler": "classify", "code": "400"}, 1},
		{"xray_http_request_duration_seconds", map[string]string{"handler": "classify"}, 4},
		{"xray_request_images", nil, 3}, // the bad image is refused from its header, before the model
		{"xray_model_version", nil, 1},
		{"xray_model_ready", nil, 1},
		{"xray_model_loads_total", map[string]string{"result": "ok"}, 1},
		{"xray_model_loads_total", map[string]string{"result": "failed"}, 0},
	} {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("no Go or process collector in /metrics")
	}

	var codes []int
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e struct {
			Msg, Method, Path string
			Status            int
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if e.Msg == "request" && e.Path == "/v1/classify" && e.Method == "POST" {
			codes = append(codes, e.Status)
		}
	}
	if len(codes) != 4 || codes[3] != 400 {
		t.Errorf("access log statuses %v, want 3 x 200 then 400", codes)
	}
}
