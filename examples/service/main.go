// Command service is a Go service that embeds xray's model server (package serve, the
// server behind `xray serve`) next to routes of its own: what a downstream service needs
// to import, configure and run (see README.md).
//
//	go run . -model-dir ../../models/xray -addr 127.0.0.1:8080
//	curl -F file=@chest.jpeg localhost:8080/v1/classify
//	curl localhost:8080/service/version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xraylab/xray/serve"
)

func main() {
	dir := flag.String("model-dir", os.Getenv("XRAY_MODEL_DIR"), "model directory: numbered versions of SavedModels, or one SavedModel")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	if *dir == "" {
		log.Fatal("give -model-dir DIR (or XRAY_MODEL_DIR)")
	}
	model, err := serve.New(serve.Config{ModelDir: *dir})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go model.Watch(ctx) // hot reload of new versions

	srv := &http.Server{Addr: *addr, Handler: newHandler(model), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		drain, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(drain)
	}()
	log.Printf("serving %s (version %d) on %s", *dir, model.Version(), *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	model.Close() // after Shutdown: releases the TensorFlow session
}

// newHandler mounts xray's API (TensorFlow Serving's REST paths, /v1/classify, the page,
// /healthz, /readyz, /metrics) beside this service's own route.
func newHandler(model *serve.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", model.Handler())
	mux.HandleFunc("GET /service/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "model version %d\n", model.Version())
	})
	return mux
}
