package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve"
	"github.com/xraylab/xray/serve/versions"
)

func init() {
	register(&cli.Command{
		Name:  "serve",
		Usage: "serve a model over HTTP: TensorFlow Serving's REST API, /v1/classify, a web page, hot reload",
		UsageText: "xray serve --model-dir DIR [--addr 127.0.0.1:8501] [--poll 10s] [--max-batch 32] [--max-delay 5ms] ...\n\n" +
			"DIR is a TensorFlow Serving model base (numbered version directories, each a SavedModel\n" +
			"from xray train/export) or one SavedModel directory. The highest version serves; a new\n" +
			"complete version is loaded, warmed up and swapped in without failing a request, and the old\n" +
			"one's memory is released. SIGTERM or SIGINT drains: in-flight requests get --drain to finish.\n\n" +
			"Examples:\n" +
			"   mkdir -p models/xray && cp -r runs/mobilenet/savedmodel models/xray/1\n" +
			"   xray serve --model-dir models/xray\n" +
			"   curl -F file=@scan.jpeg localhost:8501/v1/classify\n" +
			"   curl -d '{\"signature_name\":\"serving_bytes\",\"instances\":[{\"b64\":\"'$(base64 -w0 scan.jpeg)'\"}]}' \\\n" +
			"        localhost:8501/v1/models/xray:predict\n" +
			"   open http://localhost:8501/   # the page: drop X-rays on it\n" +
			"   xray serve --model-config-file models.config   # several models, TensorFlow Serving's format:\n" +
			"     model_config_list { config { name: \"two\" base_path: \"/models/two\" model_version_policy { latest { num_versions: 2 } } } }\n" +
			"   openssl rand -hex 32 > tokens.txt   # HTTPS and tokens:\n" +
			"   xray serve --model-dir models/xray --addr :8501 --tls-cert cert.pem --tls-key key.pem --auth-tokens tokens.txt\n" +
			"   curl --cacert ca.pem -H \"Authorization: Bearer $(cat tokens.txt)\" https://host:8501/v1/models/xray\n" +
			"   xray serve --model-dir models/xray --grpc-addr 127.0.0.1:8500   # also gRPC (docs/serving.md)",
		Flags:  serveFlags(),
		Action: serveAction,
	})
}

func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model-dir", Usage: "model `DIR`: numbered version directories of SavedModels, or one SavedModel", EnvVars: []string{"XRAY_MODEL_DIR"}},
		&cli.StringFlag{Name: "model-config-file", Usage: "serve several models: TensorFlow Serving's model_config_list text `FILE` (name, base_path, model_version_policy latest/specific/all), instead of --model-dir", EnvVars: []string{"XRAY_MODEL_CONFIG_FILE"}},
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8501", Usage: "listen `ADDRESS` (:8501 for every interface)", EnvVars: []string{"XRAY_ADDR"}},
		grpcAddrFlag(),
		&cli.StringFlag{Name: "name", Value: serve.DefaultName, Usage: "model `NAME` in the REST paths (/v1/models/NAME)", EnvVars: []string{"XRAY_NAME"}},
		&cli.DurationFlag{Name: "poll", Value: serve.DefaultPoll, Usage: "look for a new version every `DURATION` (0: never)", EnvVars: []string{"XRAY_POLL"}},
		&cli.IntFlag{Name: "max-batch", Value: savedmodels.DefaultMaxBatch, Usage: "images per session run, gathered across requests (`N`)", EnvVars: []string{"XRAY_MAX_BATCH"}},
		&cli.DurationFlag{Name: "max-delay", Value: 5 * time.Millisecond, Usage: "wait up to `DURATION` for a batch to fill", EnvVars: []string{"XRAY_MAX_DELAY"}},
		&cli.Int64Flag{Name: "max-body", Value: serve.DefaultMaxBodyBytes, Usage: "request body limit in `BYTES` (413 beyond)", EnvVars: []string{"XRAY_MAX_BODY"}},
		&cli.Int64Flag{Name: "max-pixels", Value: serve.DefaultMaxPixels, Usage: "width x height limit of one image, read from its header (`N`, 413 beyond; at most the decoder's 33554432)", EnvVars: []string{"XRAY_MAX_PIXELS"}},
		&cli.IntFlag{Name: "max-instances", Value: serve.DefaultMaxInstances, Usage: "images per request (`N`, 400 beyond)", EnvVars: []string{"XRAY_MAX_INSTANCES"}},
		&cli.DurationFlag{Name: "timeout", Value: serve.DefaultTimeout, Usage: "per-request limit, the body's upload included (`DURATION`; 408 slow body, 503 slow answer)", EnvVars: []string{"XRAY_TIMEOUT"}},
		&cli.IntFlag{Name: "max-concurrent", Value: serve.DefaultMaxConcurrent, Usage: "requests served at once (`N`, 429 beyond)", EnvVars: []string{"XRAY_MAX_CONCURRENT"}},
		&cli.DurationFlag{Name: "drain", Value: 30 * time.Second, Usage: "on SIGTERM/SIGINT, give in-flight requests `DURATION` to finish", EnvVars: []string{"XRAY_DRAIN"}},
		&cli.DurationFlag{Name: "drain-delay", Value: 2 * time.Second, Usage: "on SIGTERM/SIGINT, answer /readyz 503 for `DURATION` before closing the listener (a load balancer's time to notice)", EnvVars: []string{"XRAY_DRAIN_DELAY"}},
		&cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with this PEM certificate `FILE` (re-read when it changes; needs --tls-key)", EnvVars: []string{"XRAY_TLS_CERT"}},
		&cli.StringFlag{Name: "tls-key", Usage: "PEM private key `FILE` of --tls-cert", EnvVars: []string{"XRAY_TLS_KEY"}},
		&cli.StringFlag{Name: "client-ca", Usage: "mutual TLS: clients must present a certificate signed by this PEM CA `FILE`", EnvVars: []string{"XRAY_CLIENT_CA"}},
		&cli.StringFlag{Name: "auth-tokens", Usage: "bearer tokens `FILE`, one per line: every route but health and metrics answers 401 without 'Authorization: Bearer TOKEN'", EnvVars: []string{"XRAY_AUTH_TOKENS"}},
		&cli.BoolFlag{Name: "auth-health", Usage: "with --auth-tokens, /healthz, /readyz and /metrics need the token too", EnvVars: []string{"XRAY_AUTH_HEALTH"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "access and model log `FORMAT` on stderr: text or json", EnvVars: []string{"XRAY_LOG_FORMAT"}},
		modelWindowFlag(),
		jitFlag(),
	}
}

func serveAction(c *cli.Context) error {
	var models []versions.ModelConfig
	switch conf := c.String("model-config-file"); {
	case conf != "" && c.String("model-dir") != "":
		return usagef("give --model-dir or --model-config-file, not both")
	case conf != "":
		var err error
		if models, err = versions.ReadModelConfig(conf); err != nil {
			return fmt.Errorf("--model-config-file: %w", err)
		}
	case c.String("model-dir") == "":
		return usagef("serve needs --model-dir DIR (or --model-config-file FILE)")
	}
	log, err := serveLogger(c.App.ErrWriter, c.String("log-format"))
	if err != nil {
		return err
	}
	poll := c.Duration("poll")
	if poll == 0 {
		poll = -1 // serve.Config: negative never polls
	}
	for _, f := range []string{"max-batch", "max-instances", "max-concurrent"} {
		if c.Int(f) < 1 {
			return usagef("--%s %d: give 1 or more", f, c.Int(f))
		}
	}
	for _, f := range []string{"max-body", "max-pixels"} {
		if c.Int64(f) < 1 {
			return usagef("--%s %d: give 1 or more", f, c.Int64(f))
		}
	}
	if c.Int64("max-pixels") > preprocess.MaxPixels {
		return usagef("--max-pixels %d: at most %d, the decoder's limit", c.Int64("max-pixels"), int64(preprocess.MaxPixels))
	}
	if c.Duration("timeout") <= 0 || c.Duration("drain") < 0 || c.Duration("drain-delay") < 0 {
		return usagef("--timeout must be positive, --drain and --drain-delay not negative")
	}
	window, err := modelWindow(c)
	if err != nil {
		return err
	}
	srv, err := serve.New(serve.Config{
		ModelDir: c.String("model-dir"), Name: c.String("name"), Models: models, Poll: poll, DICOMWindow: window, JIT: c.Bool("jit"),
		MaxBatch: c.Int("max-batch"), MaxDelay: c.Duration("max-delay"),
		MaxBodyBytes: c.Int64("max-body"), MaxPixels: c.Int64("max-pixels"), MaxInstances: c.Int("max-instances"),
		Timeout: c.Duration("timeout"), MaxConcurrent: c.Int("max-concurrent"), Logger: log,
		TLSCert: c.String("tls-cert"), TLSKey: c.String("tls-key"), ClientCA: c.String("client-ca"),
		AuthTokens: c.String("auth-tokens"), AuthHealth: c.Bool("auth-health"), DrainDelay: c.Duration("drain-delay"),
	})
	switch {
	case errors.Is(err, versions.ErrNoModel):
		return fmt.Errorf("%w (--model-dir or --model-config-file)", err)
	case errors.Is(err, serve.ErrTokens):
		return fmt.Errorf("--auth-tokens: %w", err)
	case errors.Is(err, serve.ErrTLS):
		return fmt.Errorf("--tls-cert/--tls-key/--client-ca: %w", err)
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		srv.Close()
		return fmt.Errorf("--addr %s: %w", c.String("addr"), err)
	}
	logDevice(c.App.ErrWriter, "serving")
	log.Info("listening", "addr", ln.Addr().String(), "model_dir", c.String("model-dir"), "version", srv.Version())
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	waitGRPC, err := startGRPC(ctx, c, srv, log)
	if err != nil {
		ln.Close()
		srv.Close()
		return err
	}
	err = errors.Join(srv.Serve(ctx, ln, c.Duration("drain")), waitGRPC())
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (--drain)", err)
	}
	return err
}

func serveLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usagef("--log-format %q: give text or json", format)
}
