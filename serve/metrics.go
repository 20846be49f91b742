package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, in a registry of its own (several servers
// may live in one process, as in tests).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // by handler and status code
	latency  *prometheus.HistogramVec // by handler
	images   prometheus.Histogram     // images per predict/classify request
	inflight prometheus.Gauge
	version  *prometheus.GaugeVec   // by model
	ready    *prometheus.GaugeVec   // by model
	loads    *prometheus.CounterVec // by result: ok, failed
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xray_http_requests_total", Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xray_http_request_duration_seconds", Help: "HTTP request latency by handler.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"handler"}),
		images: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xray_request_images", Help: "Images per predict or classify request.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "xray_http_requests_in_flight", Help: "Requests being served."}),
		version:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "xray_model_version", Help: "Highest version of the model being served."}, []string{"model"}),
		ready:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "xray_model_ready", Help: "1 when a version of the model is loaded and warmed up."}, []string{"model"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xray_model_loads_total", Help: "Model version loads by result (ok, failed).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.images, m.inflight, m.version, m.ready, m.loads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.loads.WithLabelValues("ok")
	m.loads.WithLabelValues("failed")
	return m
}
