package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xraylab/xray/serve/kserve"
	"github.com/xraylab/xray/serve/protocol"
	"github.com/xraylab/xray/serve/tfserving"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// NewGRPCServer is a gRPC server with TensorFlow Serving's PredictionService and
// ModelService and the Open Inference Protocol's GRPCInferenceService registered over
// this Server's models. It speaks TLS as the HTTP side does (TLSConfig: the same
// certificate, re-read on change, and client CA); its interceptor checks the bearer token
// of the "authorization" metadata (Authenticate; the health calls ServerLive and
// ServerReady are open as /v2/health is, see OpenPath), applies the REST limits
// (MaxConcurrent shared with REST, Timeout, MaxBodyBytes as the largest message,
// MaxInstances and MaxPixels in the translation) and counts and logs each call. opts come
// after the server's own (another grpc.ChainUnaryInterceptor runs inside them).
func (s *Server) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	m := s.grpcMetrics()
	all := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(min(s.cfg.MaxBodyBytes, 1<<31-1))),
		grpc.ChainUnaryInterceptor(s.grpcInterceptor(m)),
	}
	if c := s.TLSConfig(); c != nil {
		all = append(all, grpc.Creds(credentials.NewTLS(c)))
	}
	all = append(all, opts...)
	g := grpc.NewServer(all...)
	tfserving.Register(g, backend{s})
	kserve.Register(g, backend{s})
	return g
}

// ServeGRPC serves NewGRPCServer(opts...) on ln until ctx is done, then stops taking
// calls and gives those running up to drain to finish. Run it beside Serve, with the same
// ctx: the models stay loaded for as long as a call holds one.
func (s *Server) ServeGRPC(ctx context.Context, ln net.Listener, drain time.Duration, opts ...grpc.ServerOption) error {
	g := s.NewGRPCServer(opts...)
	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve gRPC on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
		return nil
	case <-time.After(drain):
		g.Stop()
		return fmt.Errorf("drain: gRPC calls still running after %s: %w", drain, context.DeadlineExceeded)
	}
}

// grpcSeries are the gRPC calls' Prometheus series, beside the HTTP ones.
type grpcSeries struct {
	requests *prometheus.CounterVec   // by method and gRPC code
	latency  *prometheus.HistogramVec // by method
}

// grpcMetrics registers the gRPC series once per Server (a second gRPC server on the
// same Server shares them).
func (s *Server) grpcMetrics() *grpcSeries {
	m := &grpcSeries{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xray_grpc_requests_total", Help: "gRPC calls by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xray_grpc_request_duration_seconds", Help: "gRPC call latency by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"method"}),
	}
	m.requests = reuse(s.metrics.reg, m.requests)
	m.latency = reuse(s.metrics.reg, m.latency)
	return m
}

// reuse registers c, or returns the collector already registered under its name.
func reuse[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	var dup prometheus.AlreadyRegisteredError
	if err := reg.Register(c); errors.As(err, &dup) {
		return dup.ExistingCollector.(C)
	}
	return c
}

// probes answer without a concurrency slot, as /healthz and /readyz do.
var probes = map[string]bool{"ServerLive": true, "ServerReady": true, "ModelReady": true}

// healthPaths are the REST paths of the gRPC health calls, for OpenPath.
var healthPaths = map[string]string{"ServerLive": "/v2/health/live", "ServerReady": "/v2/health/ready"}

// grpcInterceptor is the gRPC side of instrument and limit: a slot, the timeout, the
// translation of handler errors to gRPC codes, the metrics and the access log line.
func (s *Server) grpcInterceptor(m *grpcSeries) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		method := path.Base(info.FullMethod)
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		var resp any
		err := s.grpcAuthenticate(ctx, method)
		if err == nil {
			resp, err = s.limitCall(ctx, req, method, h)
		}
		err = protocol.GRPCError(err)
		code := status.Code(err)
		d := time.Since(start)
		m.requests.WithLabelValues(method, code.String()).Inc()
		m.latency.WithLabelValues(method).Observe(d.Seconds())
		remote := ""
		if p, ok := peer.FromContext(ctx); ok {
			remote = p.Addr.String()
		}
		level := slog.LevelInfo
		if code == codes.Internal || code == codes.Unknown {
			level = slog.LevelError
		}
		s.cfg.Logger.LogAttrs(ctx, level, "request", slog.String("method", "gRPC"), slog.String("path", info.FullMethod),
			slog.String("status", code.String()), slog.Int("bytes", respSize(resp)),
			slog.Float64("ms", float64(d.Microseconds())/1000), slog.String("remote", remote))
		return resp, err
	}
}

func respSize(resp any) int {
	if m, ok := resp.(proto.Message); ok && m != nil {
		return proto.Size(m)
	}
	return 0
}

// grpcAuthenticate is the HTTP side's authenticate for a gRPC call: the "authorization"
// metadata must carry an accepted token, except for the open health calls.
func (s *Server) grpcAuthenticate(ctx context.Context, method string) error {
	if p, ok := healthPaths[method]; ok && s.OpenPath(p) {
		return nil
	}
	var auth string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			auth = v[0]
		}
	}
	if err := s.Authenticate(auth); err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	return nil
}

// limitCall runs h within a concurrency slot (shared with REST) and the request timeout.
func (s *Server) limitCall(ctx context.Context, req any, method string, h grpc.UnaryHandler) (any, error) {
	if !probes[method] {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			return nil, errorf(http.StatusTooManyRequests, "over the server's limit of %d concurrent requests; retry later", s.cfg.MaxConcurrent)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return h(ctx, req)
}
