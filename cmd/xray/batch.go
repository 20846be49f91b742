package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/batchpipe"
	"github.com/xraylab/xray/savedmodels"
)

func init() {
	// On Dataflow or Flink the SDK's boot entry point starts this binary as a Beam worker
	// (--worker=true ...): it serves the pipeline and exits here, before the CLI.
	if _, err := batchpipe.Worker(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "xray: %v\n", err)
		os.Exit(2)
	}
	register(&cli.Command{
		Name:  "batch",
		Usage: "classify the files matching a pattern with an Apache Beam pipeline (Prism here; Dataflow, Flink, Spark)",
		UsageText: "xray batch --savedmodel DIR --input PATTERN --output PREFIX [--runner prism|dataflow|flink|spark]\n" +
			"      [--batch N] [--shards N] [-- BEAM RUNNER FLAGS...]\n\n" +
			"Writes PREFIX-SSSSS-of-NNNNN.jsonl (one JSON line per file, xray predict's format),\n" +
			"PREFIX-failed.jsonl ({\"file\", \"error\"} for the files that failed) and PREFIX-summary.json\n" +
			"(files matched, per class, failed), and prints the summary. The prism runner runs in this\n" +
			"process; the others take Beam's own flags after --. The exit status is 1 if any file failed.\n" +
			"docs/batch.md has the Dataflow and Flink commands and the worker image.\n\n" +
			"Examples:\n" +
			"   xray batch --savedmodel runs/mobilenet/savedmodel --input 'archive/*/*.jpeg' --output out/preds\n" +
			"   xray batch --savedmodel /models/mobilenet --input 'gs://bucket/xrays/*.jpeg' --output gs://bucket/out/preds \\\n" +
			"      --runner dataflow -- --project=P --region=europe-west1 --temp_location=gs://bucket/tmp \\\n" +
			"      --sdk_container_image=REGISTRY/xray-beam --worker_binary=xray-worker",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "savedmodel", Usage: "SavedModel `DIR`, readable by every worker", EnvVars: []string{"XRAY_SAVEDMODEL"}},
			&cli.StringFlag{Name: "input", Usage: "file `PATTERN` (a glob; gs:// and s3:// where the workers have them)", EnvVars: []string{"XRAY_INPUT"}},
			&cli.StringFlag{Name: "output", Usage: "output `PREFIX` of the JSON Lines shards, dead letters and summary", EnvVars: []string{"XRAY_OUTPUT"}},
			&cli.StringFlag{Name: "runner", Value: "prism", Usage: "Beam `RUNNER`: prism (in this process), dataflow, flink or spark", EnvVars: []string{"XRAY_RUNNER"}},
			&cli.IntFlag{Name: "batch", Value: savedmodels.DefaultMaxBatch, Usage: "images per session run (`N`)", EnvVars: []string{"XRAY_BATCH"}},
			&cli.IntFlag{Name: "shards", Value: 1, Usage: "prediction output files (`N`)", EnvVars: []string{"XRAY_SHARDS"}},
		},
		Action: batchAction,
	})
}

func batchAction(c *cli.Context) error {
	cfg := batchpipe.Config{SavedModel: c.String("savedmodel"), Input: c.String("input"), Output: c.String("output"),
		Batch: c.Int("batch"), Shards: c.Int("shards")}
	switch {
	case cfg.SavedModel == "" || cfg.Input == "" || cfg.Output == "":
		return usagef("batch needs --savedmodel DIR, --input PATTERN and --output PREFIX")
	case cfg.Batch < 1 || cfg.Shards < 1:
		return usagef("--batch %d, --shards %d: give 1 or more", cfg.Batch, cfg.Shards)
	}
	runner := c.String("runner")
	switch runner {
	case "prism", "dataflow", "flink", "spark":
	default:
		return usagef("--runner %q: give prism, dataflow, flink or spark", runner)
	}
	if err := flag.CommandLine.Parse(c.Args().Slice()); err != nil {
		return usagef("Beam runner flags %q: %v", c.Args().Slice(), err)
	}
	if !verboseRequested(os.Args) { // Prism and the SDK log every job step at INFO
		beamlog.LogLevel = "warn"
	}
	sum, err := batchpipe.Run(c.Context, cfg, runner)
	if errors.Is(err, batchpipe.ErrConfig) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	printBatchSummary(c.App.Writer, sum, cfg.Output)
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d files could not be predicted (see %s-failed.jsonl)", sum.Failed, sum.Matched, cfg.Output)
	}
	return nil
}

func printBatchSummary(w io.Writer, sum batchpipe.Summary, prefix string) {
	fmt.Fprintf(w, "%d files matched, %d predicted, %d failed\n", sum.Matched, sum.Predicted(), sum.Failed)
	names := make([]string, 0, len(sum.Classes))
	for n := range sum.Classes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %d\n", n, sum.Classes[n])
	}
	fmt.Fprintf(w, "wrote %s-*.jsonl, %s-failed.jsonl, %s-summary.json\n", prefix, prefix, prefix)
}
