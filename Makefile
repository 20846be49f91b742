# xray — build, test and run against TensorFlow's C library.
#
# The one build setting: TENSORFLOW_DIR, a directory with lib/ (libtensorflow*.so*) and
# include/tensorflow/c/. Default: .tf, laid out by scripts/setup.sh from the PyPI wheel.
# Point it at an official libtensorflow archive or at a link directory made from the
# TensorFlow GPU image (scripts/link-tensorflow.sh) to build against those instead.
TENSORFLOW_DIR ?= $(CURDIR)/.tf
TF_ABS := $(abspath $(TENSORFLOW_DIR))
export CGO_ENABLED := 1
export CGO_CFLAGS := -I$(TF_ABS)/include
# rpath: the built binary finds the library without LD_LIBRARY_PATH.
export CGO_LDFLAGS := -L$(TF_ABS)/lib -Wl,-rpath,$(TF_ABS)/lib
export XRAY_PYTHON ?= $(CURDIR)/.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

GO ?= go
BIN := bin/xray

.PHONY: all setup build test vet demo version check-tf clean bench
all: build

setup:
	bash scripts/setup.sh

check-tf:
	@test -e "$(TF_ABS)/lib/libtensorflow.so" -o -e "$(TF_ABS)/lib/libtensorflow.so.2" || { \
	  echo "error: no TensorFlow C library in $(TF_ABS)/lib. Run 'make setup' (PyPI wheel), or set TENSORFLOW_DIR to an official libtensorflow directory (lib/ + include/)." >&2; exit 1; }

# bin/xray is a small launcher that checks the TensorFlow library is still where the
# binary's rpath points and says what to do if not (the dynamic loader's own message
# would only name a missing .so); bin/xray.bin is the binary itself.
build: check-tf
	$(GO) build -o $(BIN).bin ./cmd/xray
	@printf '%s\n' '#!/bin/sh' \
	  '# Launcher made by make build: checks for the TensorFlow C library, then runs xray.bin.' \
	  'lib="$(TF_ABS)/lib"' \
	  'if [ ! -e "$$lib/libtensorflow_cc.so.2" ] && [ ! -e "$$lib/libtensorflow.so.2" ]; then' \
	  '  echo "xray: the TensorFlow C library is missing from $$lib: run make setup (PyPI wheel), or rebuild with make build TENSORFLOW_DIR=DIR pointing at a libtensorflow directory" >&2' \
	  '  exit 1' \
	  'fi' \
	  ': "$${TF_CPP_MIN_LOG_LEVEL:=2}"; export TF_CPP_MIN_LOG_LEVEL  # hide TensorFlow start-up banners' \
	  'exec "$$(dirname "$$0")/xray.bin" "$$@"' > $(BIN)
	@chmod +x $(BIN)

# vet fails on unformatted Go files, go vet's findings and staticcheck's (pinned in go.mod's
# tool directive: `go tool` fetches and builds that exact version on a fresh machine).
vet: check-tf
	@files=$$($$($(GO) env GOROOT)/bin/gofmt -l $$(find . -path './.*' -prune -o -name '*.go' -print)); \
	  if [ -n "$$files" ]; then echo "error: not gofmt-formatted (run gofmt -w on them):" $$files >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The second line runs savedmodels' concurrency tests (Model shared by goroutines,
# batching, Close during calls) under the race detector.
test: setup vet
	$(GO) test -count=1 -timeout 45m ./...
	$(GO) test -count=1 -race -run 'TestPredictConcurrent|TestPredictBatchesConcurrentCalls|TestPredictContext|TestClose|TestExplainClassesAndErrors' ./savedmodels/
	cd examples/service && $(GO) build -o /dev/null ./... && $(GO) vet ./... && $(GO) test -count=1 ./...

# Issue 15's side-by-side benchmarks (xray vs the Python reference, ratios printed), at
# reduced scale: a few minutes on two cores. docs/performance.md has the full-scale commands
# and one measured run of each.
BENCH := $(GO) test -run '^$$' -bench . -timeout 0
bench: check-tf
	$(BENCH) -benchtime 1x ./bench/loader/
	$(BENCH) -benchtime 1x ./bench/cache/
	XRAY_BENCH_CASES=mobilenet:128,mobilenet:128:mixed_bfloat16 XRAY_BENCH_ROUNDS=1 XRAY_BENCH_EPOCHS=2 $(BENCH) -benchtime 1x ./bench/train/
	XRAY_BENCH_N=300 XRAY_BENCH_SIZE=128 $(BENCH) -benchtime 1x ./bench/rss/
	XRAY_BENCH_SIZE=128 XRAY_BENCH_BEAM=0 $(BENCH) -benchtime 1x ./bench/predict-stream/

version: setup build
	./$(BIN) version

demo: setup build
	./$(BIN) demo

clean:
	rm -rf bin
