package batchpipe

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	"github.com/xraylab/xray/savedmodels"
)

// Config is one batch prediction job.
type Config struct {
	SavedModel string // the exported model's directory, readable by every worker
	Input      string // a file pattern (glob) in one of Beam's filesystems
	Output     string // prefix of the output files
	Batch      int    // files per prediction batch (default savedmodels.DefaultMaxBatch)
	Shards     int    // prediction output files (default 1)
}

// ErrConfig is wrapped by the errors of a Config that cannot run.
var ErrConfig = errors.New("batch job misconfigured")

func (c *Config) check() error {
	switch {
	case c.SavedModel == "":
		return fmt.Errorf("%w: no SavedModel directory", ErrConfig)
	case c.Input == "":
		return fmt.Errorf("%w: no input pattern", ErrConfig)
	case c.Output == "":
		return fmt.Errorf("%w: no output prefix", ErrConfig)
	case c.Batch < 0 || c.Shards < 0:
		return fmt.Errorf("%w: batch %d, shards %d: give 1 or more", ErrConfig, c.Batch, c.Shards)
	}
	if c.Batch == 0 {
		c.Batch = savedmodels.DefaultMaxBatch
	}
	if c.Shards == 0 {
		c.Shards = 1
	}
	return nil
}

// Build adds the job to the pipeline: match, predict, write the sharded predictions and
// the dead letters.
func Build(s beam.Scope, c Config) error {
	if err := c.check(); err != nil {
		return err
	}
	files := fileio.MatchFiles(s.Scope("match"), c.Input)
	// Reshuffle ends the fusion with the match, so the runner can spread the files over
	// its workers instead of predicting them in the bundle that matched them.
	files = beam.Reshuffle(s, files)
	ok, failed := beam.ParDo2(s.Scope("predict"), &predictFn{SavedModel: c.SavedModel, Batch: c.Batch}, files)
	writeSharded(s.Scope("write"), c.Output, c.Shards, ok)
	writeSharded(s.Scope("dead-letter"), c.Output+"-failed", 0, failed)
	return nil
}

// Summary is what a job did, from the pipeline's metrics.
type Summary struct {
	Matched int            `json:"matched"`
	Classes map[string]int `json:"classes"` // predicted files per class name
	Failed  int            `json:"failed"`
}

// Predicted is the number of files predicted (all classes).
func (s Summary) Predicted() int {
	n := 0
	for _, c := range s.Classes {
		n += c
	}
	return n
}

// Run builds the job and runs it on runner ("prism": in this process; "dataflow",
// "flink", "spark": their Beam runners, configured by Beam's own flags, parsed by the
// caller), waits for it, writes PREFIX-summary.json and returns the summary.
func Run(ctx context.Context, c Config, runner string) (sum Summary, err error) {
	if !beam.Initialized() {
		beam.Init()
	}
	defer func() { // the SDK panics on some misconfigurations; they are errors here
		if r := recover(); r != nil {
			err = fmt.Errorf("batch pipeline on %s: %v", runner, r)
		}
	}()
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, c); err != nil {
		return Summary{}, err
	}
	var res beam.PipelineResult
	if runner == "prism" {
		res, err = prism.Execute(ctx, p)
	} else {
		res, err = beam.Run(ctx, runner, p)
	}
	if cerr := closeModels(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return Summary{}, fmt.Errorf("batch pipeline on %s: %w", runner, err)
	}
	sum = Summary{Classes: map[string]int{}}
	if res == nil {
		return sum, fmt.Errorf("batch pipeline on %s: the runner returned no result (asynchronous?): no summary", runner)
	}
	for _, r := range res.Metrics().AllMetrics().Counters() {
		if r.Namespace() != metricNS {
			continue
		}
		switch name := r.Name(); {
		case name == metricMatched:
			sum.Matched += int(r.Result())
		case name == metricFailed:
			sum.Failed += int(r.Result())
		case strings.HasPrefix(name, metricClassPref):
			sum.Classes[strings.TrimPrefix(name, metricClassPref)] += int(r.Result())
		}
	}
	return sum, writeSummary(ctx, c.Output+"-summary.json", sum)
}

func writeSummary(ctx context.Context, name string, sum Summary) error {
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return fmt.Errorf("summary %s: %w", name, err)
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("summary %s: %w", name, err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		w.Close()
		return fmt.Errorf("summary %s: %w", name, err)
	}
	return w.Close()
}

// Worker runs the Beam worker harness when args are a worker's (the SDK's boot entry
// point starts the binary with --worker=true and its endpoints, on Dataflow or Flink):
// Beam's harness then exits the process. Otherwise it returns false. An error means
// args are a worker's but its flags do not parse; the caller reports it and exits.
// Call it first thing in main.
func Worker(args []string) (bool, error) {
	if !slices.Contains(args, "--worker=true") && !slices.Contains(args, "--worker") {
		return false, nil
	}
	if err := flag.CommandLine.Parse(args); err != nil {
		return true, fmt.Errorf("beam worker flags %q: %w", args, err)
	}
	beam.Init() // runs the harness, then exits the process
	return true, nil
}
