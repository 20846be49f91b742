package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/pacs"
	"github.com/xraylab/xray/pacs/dicomweb"
	"github.com/xraylab/xray/savedmodels"
)

func init() {
	register(&cli.Command{
		Name:  "pacs",
		Usage: "read chest X-rays from a PACS over DICOMweb and store the results back as DICOM (SR + Grad-CAM overlay)",
		UsageText: "xray pacs --url URL --savedmodel DIR [--user U --password P | --token T] [--modality CR,DX] [--body-part CHEST]\n" +
			"          [--since 2024-01-01] [--until 2024-12-31] [--study UID] [--dry-run] [--watch 5m] [--concurrency 2]\n" +
			"          [--overlay=false]\n\n" +
			"Finds, with QIDO-RS, every study holding CR or DX images; for each image of the body part\n" +
			"that has no result of this model yet, retrieves it (WADO-RS), predicts and explains it, and\n" +
			"stores into the same study (STOW-RS) a Comprehensive SR (the finding of each class with its\n" +
			"probability, the decided class, the threshold, the model's name, version and digest, a\n" +
			"reference to the image) and a Secondary Capture of the Grad-CAM overlay, each in a series of\n" +
			"its own; --overlay=false stores the SR alone and skips Grad-CAM (the pass only predicts).\n" +
			"Result UIDs derive from the image and the model, so a second run, a run on another machine\n" +
			"or a rerun after a kill skips what is done and never stores a result twice.\n" +
			"Prints one JSON line per image: {\"sop_instance_uid\", \"action\" (stored, skipped,\n" +
			"would-store, failed), \"class\", \"probabilities\", \"sr_instance_uid\", \"overlay_instance_uid\",\n" +
			"\"error\"}, and a summary on stderr. Logs and lines name SOP Instance UIDs, never a patient's\n" +
			"name, ID or birth date. One pass, then exit (status 1 if an image failed); --watch repeats\n" +
			"the pass every interval until interrupted. See docs/pacs.md.\n\n" +
			"Examples:\n" +
			"   xray pacs --url http://localhost:8042/dicom-web --user orthanc --password orthanc --savedmodel runs/m/savedmodel\n" +
			"   xray pacs --url https://pacs.example.org/dicomweb --token \"$TOKEN\" --ca-cert ca.pem --savedmodel m --since 2024-06-01 --dry-run\n" +
			"   XRAY_PACS_PASSWORD=... xray pacs --url http://pacs:8042/dicom-web --user ai --savedmodel m --watch 5m\n" +
			"   xray pacs --url http://localhost:8042/dicom-web --user orthanc --password orthanc --savedmodel m --overlay=false --concurrency 8",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", Usage: "DICOMweb base `URL` of the PACS (e.g. http://localhost:8042/dicom-web)", EnvVars: []string{"XRAY_PACS_URL"}},
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR` (the directory holding saved_model.pb)", EnvVars: []string{"XRAY_SAVEDMODEL"}},
			&cli.StringFlag{Name: "user", Usage: "HTTP basic authentication `USER`", EnvVars: []string{"XRAY_PACS_USER"}},
			&cli.StringFlag{Name: "password", Usage: "HTTP basic authentication `PASSWORD` (prefer the environment variable)", EnvVars: []string{"XRAY_PACS_PASSWORD"}},
			&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` (instead of --user/--password)", EnvVars: []string{"XRAY_PACS_TOKEN"}},
			&cli.StringFlag{Name: "ca-cert", Usage: "PEM `FILE` of the certificate authorities to trust for an https URL (default: the system's)", EnvVars: []string{"XRAY_CA_CERT"}},
			&cli.StringFlag{Name: "modality", Value: "CR,DX", Usage: "image modalities to read, comma-separated (`LIST`)", EnvVars: []string{"XRAY_MODALITY"}},
			&cli.StringFlag{Name: "body-part", Value: "CHEST", Usage: "BodyPartExamined an image must have (`NAME`); * for any", EnvVars: []string{"XRAY_BODY_PART"}},
			&cli.StringFlag{Name: "since", Usage: "only studies on or after `DATE` (YYYY-MM-DD)", EnvVars: []string{"XRAY_SINCE"}},
			&cli.StringFlag{Name: "until", Usage: "only studies on or before `DATE` (YYYY-MM-DD)", EnvVars: []string{"XRAY_UNTIL"}},
			&cli.StringFlag{Name: "study", Usage: "only the study with this Study Instance `UID`", EnvVars: []string{"XRAY_STUDY"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be stored; retrieve and store nothing", EnvVars: []string{"XRAY_DRY_RUN"}},
			&cli.DurationFlag{Name: "watch", Usage: "repeat the pass every `INTERVAL` (e.g. 5m) until interrupted", EnvVars: []string{"XRAY_WATCH"}},
			&cli.IntFlag{Name: "concurrency", Value: 2, Usage: "series retrieved and result batches stored at once (`N`); the model runs batches of up to 32 images", EnvVars: []string{"XRAY_CONCURRENCY"}},
			&cli.StringFlag{Name: "max-instance-size", Value: "256MiB", Usage: "refuse an instance larger than `SIZE` before reading it whole", EnvVars: []string{"XRAY_MAX_INSTANCE_SIZE"}},
			&cli.IntFlag{Name: "retries", Value: dicomweb.DefaultRetries, Usage: "retries of a request failing with 5xx or a timeout, with exponential backoff (`N`)", EnvVars: []string{"XRAY_RETRIES"}},
			&cli.DurationFlag{Name: "timeout", Value: dicomweb.DefaultTimeout, Usage: "limit of one request to the PACS (`DURATION`)", EnvVars: []string{"XRAY_TIMEOUT"}},
			&cli.BoolFlag{Name: "overlay", Value: true, Usage: "store the Grad-CAM overlay beside the SR; --overlay=false stores the SR alone and skips Grad-CAM (an image done without one never gets one later)", EnvVars: []string{"XRAY_OVERLAY"}},
			&cli.Float64Flag{Name: "alpha", Value: explain.DefaultAlpha, Usage: "heatmap opacity in the overlay, 0 to 1", EnvVars: []string{"XRAY_ALPHA"}},
			modelWindowFlag(),
		},
		Action: pacsAction,
	})
}

func pacsAction(c *cli.Context) error {
	cfg, opts, err := pacsConfig(c)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Logger = log
	client, err := dicomweb.NewClient(c.String("url"), opts)
	if err != nil {
		return usagef("--url/--user/--token: %v", err)
	}
	cfg.Client, cfg.Logger = client, log
	if !cfg.DryRun {
		window, err := modelWindow(c)
		if err != nil {
			return err
		}
		model, err := savedmodels.Load(c.String("savedmodel"), savedmodels.Options{DICOMWindow: window})
		if err != nil {
			return err
		}
		defer model.Close()
		cfg.Model = model
	}
	if cfg.Info, err = pacsModelInfo(c.String("savedmodel"), cfg.Model); err != nil {
		return err
	}
	var mu sync.Mutex
	enc := json.NewEncoder(c.App.Writer)
	cfg.Emit = func(e pacs.Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
	report := func(s pacs.Summary, err error) {
		fmt.Fprintf(c.App.ErrWriter, "xray pacs: %d studies, %d images: %d stored, %d skipped (done before), %d would be stored, %d failed\n",
			s.Studies, s.Images, s.Stored, s.Skipped, s.Would, s.Failed)
		if err != nil && c.Duration("watch") > 0 {
			fmt.Fprintf(c.App.ErrWriter, "xray pacs: warning: %s (the next pass tries again)\n", oneLine(cliError(err).Error()))
		}
	}
	if w := c.Duration("watch"); w > 0 {
		return pacs.Watch(c.Context, cfg, w, report)
	}
	sum, err := pacs.Run(c.Context, cfg)
	report(sum, nil)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d images failed (see their lines); the rest are stored", sum.Failed, sum.Images)
	}
	return nil
}

// pacsModelInfo names the model; a dry run reads only its files' digest and metadata.
func pacsModelInfo(dir string, m *savedmodels.Model) (pacs.ModelInfo, error) {
	if m != nil {
		return pacs.ModelInfoOf(m)
	}
	d, err := pacs.ModelDigest(dir)
	if err != nil {
		return pacs.ModelInfo{}, fmt.Errorf("--savedmodel %s: %w", dir, err)
	}
	return pacs.ModelInfo{Digest: d}, nil
}

// pacsConfig reads the flags into the library's configuration.
func pacsConfig(c *cli.Context) (pacs.Config, dicomweb.Options, error) {
	var cfg pacs.Config
	var opts dicomweb.Options
	if c.String("url") == "" || c.String("savedmodel") == "" {
		return cfg, opts, usagef("pacs needs --url URL and --savedmodel DIR")
	}
	if c.Int("concurrency") < 1 {
		return cfg, opts, usagef("--concurrency %d: give 1 or more", c.Int("concurrency"))
	}
	if a := c.Float64("alpha"); !(a >= 0 && a <= 1) {
		return cfg, opts, usagef("--alpha %v: give a value from 0 to 1", a)
	}
	var err error
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"since", &cfg.Since}, {"until", &cfg.Until}} {
		if s := c.String(f.name); s != "" {
			if *f.to, err = time.Parse("2006-01-02", s); err != nil {
				return cfg, opts, usagef("--%s %q: give a date as YYYY-MM-DD", f.name, s)
			}
		}
	}
	for _, m := range strings.Split(c.String("modality"), ",") {
		if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
			cfg.Modalities = append(cfg.Modalities, m)
		}
	}
	if len(cfg.Modalities) == 0 {
		return cfg, opts, usagef("--modality: give one or more modalities, e.g. CR,DX")
	}
	cfg.BodyPart, cfg.Study, cfg.DryRun = c.String("body-part"), c.String("study"), c.Bool("dry-run")
	cfg.Concurrency, cfg.Alpha, cfg.SROnly = c.Int("concurrency"), c.Float64("alpha"), !c.Bool("overlay")
	if opts.MaxInstanceBytes, err = byteSizeFlag(c, "max-instance-size"); err != nil {
		return cfg, opts, err
	}
	opts.User, opts.Password, opts.Token = c.String("user"), c.String("password"), c.String("token")
	opts.Timeout, opts.Retries = c.Duration("timeout"), c.Int("retries")
	if opts.Retries == 0 {
		opts.Retries = -1 // the flag's 0 means none; the library's 0 means its default
	}
	if ca := c.String("ca-cert"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return cfg, opts, usagef("--ca-cert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, opts, usagef("--ca-cert %s: no PEM certificate in it", ca)
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return cfg, opts, nil
}
