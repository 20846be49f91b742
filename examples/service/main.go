// Command service is a minimal HTTP service around an xray SavedModel: what a downstream
// Go service needs to import, configure and call (see README.md).
//
//	go run . -savedmodel ../../runs/mobilenet/savedmodel -addr :8080
//	curl --data-binary @chest.jpeg localhost:8080/v1/predict
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xraylab/xray/savedmodels"
)

// maxUpload bounds a request body: the largest Kermany original is about 2 MB.
const maxUpload = 32 << 20

func main() {
	dir := flag.String("savedmodel", os.Getenv("XRAY_SAVEDMODEL"), "SavedModel directory (holds saved_model.pb)")
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	if *dir == "" {
		log.Fatal("give -savedmodel DIR (or XRAY_SAVEDMODEL)")
	}
	model, err := savedmodels.Load(*dir, savedmodels.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	srv := &http.Server{Addr: *addr, Handler: newHandler(model), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	meta := model.Metadata()
	log.Printf("serving %s (%s, %d px, run %s) on %s", *dir, meta.Arch, meta.InputSize, meta.RunID, *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newHandler routes:
//
//	POST /v1/predict   body: one JPEG or PNG file -> {"class", "class_id", "probability", "probabilities"}
//	GET  /v1/metadata  the model's metadata (architecture, input size, preprocessing, classes, run)
//	GET  /healthz      200 "ok"
//
// One Model serves every request: it batches concurrent requests itself.
func newHandler(model *savedmodels.Model) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/predict", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpload))
		if err != nil {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("read the image: %v", err))
			return
		}
		preds, err := model.PredictBytes(r.Context(), body)
		if err != nil { // the request was cancelled, or the model failed
			httpError(w, http.StatusServiceUnavailable, err)
			return
		}
		p := preds[0]
		if p.Err != nil { // this image: not a JPEG or PNG, damaged, ...
			httpError(w, http.StatusUnprocessableEntity, p.Err)
			return
		}
		writeJSON(w, http.StatusOK, prediction{p.Label, p.Class, p.Probabilities[p.Class], p.Probabilities})
	})
	mux.HandleFunc("GET /v1/metadata", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, model.Metadata())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// prediction is the response to POST /v1/predict.
type prediction struct {
	Class         string     `json:"class"`         // "normal" or "pneumonia"
	ClassID       int        `json:"class_id"`      // 0 or 1
	Probability   float32    `json:"probability"`   // of Class
	Probabilities [2]float32 `json:"probabilities"` // [normal, pneumonia]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
