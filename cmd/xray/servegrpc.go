package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/serve"
)

// grpcAddrFlag is --grpc-addr: TensorFlow Serving's gRPC API (PredictionService,
// ModelService) and the Open Inference Protocol's GRPCInferenceService, off by default.
func grpcAddrFlag() cli.Flag {
	return &cli.StringFlag{Name: "grpc-addr", Usage: "also serve gRPC (TensorFlow Serving's PredictionService and ModelService, KServe's GRPCInferenceService) on `ADDRESS`, e.g. 127.0.0.1:8500; empty: no gRPC", EnvVars: []string{"XRAY_GRPC_ADDR"}}
}

// startGRPC listens on --grpc-addr (when given) and serves until ctx is done; wait
// returns once its calls have drained. Without --grpc-addr both do nothing.
func startGRPC(ctx context.Context, c *cli.Context, srv *serve.Server, log *slog.Logger) (wait func() error, err error) {
	addr := c.String("grpc-addr")
	if addr == "" {
		return func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--grpc-addr %s: %w", addr, err)
	}
	log.Info("listening for gRPC", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.ServeGRPC(ctx, ln, c.Duration("drain")) }()
	return func() error { return <-done }, nil
}
