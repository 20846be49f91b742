package evaluator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xraylab/xray/internal/atomicfile"
)

// Output file names inside an evaluation directory.
const (
	PredictionsFile = "predictions.csv"
	MetricsFile     = "metrics.json"
	ReportFile      = "report.md"
	ConfusionFile   = "confusion.png"
	ROCFile         = "roc.png"
	CalibrationFile = "calibration.png"
	// ClassesConfusionFile is the N x N confusion matrix of a model of more classes.
	ClassesConfusionFile = "confusion_classes.png"
)

// WriteOutputs writes predictions.csv, metrics.json, report.md, confusion.png, roc.png and
// calibration.png (and confusion_classes.png for a model of more classes) into dir (created if needed), each atomically.
func WriteOutputs(dir string, r *Report) error { return writeOutputs(dir, r, true) }

func writeOutputs(dir string, r *Report, withCSV bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("evaluation output: %w", err)
	}
	if withCSV {
		if err := WritePredictionsCSV(filepath.Join(dir, PredictionsFile), r.Records); err != nil {
			return err
		}
	}
	js, err := r.Metrics.JSON()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, MetricsFile), js); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ReportFile), []byte(r.Markdown())); err != nil {
		return err
	}
	png, err := ConfusionPNG(r.Metrics)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfusionFile), png); err != nil {
		return err
	}
	if png, err = ClassesConfusionPNG(r.Metrics); err != nil {
		return err
	}
	if png != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, ClassesConfusionFile), png); err != nil {
			return err
		}
	}
	if png, err = ROCPNG(r); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ROCFile), png); err != nil {
		return err
	}
	if png, err = CalibrationPNG(r.Metrics); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, CalibrationFile), png)
}

// JSON is metrics.json's content: indented, NaN-free (undefined metrics are null).
func (m Metrics) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode metrics: %w", err)
	}
	return append(b, '\n'), nil
}

// ErrOldMetrics is returned by ReadMetrics for a metrics.json of another schema: evaluate
// the run again to rewrite it.
var ErrOldMetrics = errors.New("metrics.json from another version: evaluate again to rewrite it")

// ReadMetrics reads a metrics.json written by WriteOutputs.
func ReadMetrics(path string) (Metrics, error) {
	var m Metrics
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("read metrics: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: not a metrics.json: %v", path, err)
	}
	if m.Schema != MetricsSchema {
		return m, fmt.Errorf("%s: schema %q, want %q: %w", path, m.Schema, MetricsSchema, ErrOldMetrics)
	}
	return m, nil
}

// RunArch reads the "arch" of a run.json in dir or its parent (an eval-<split>
// directory sits inside its run directory); "" when there is none.
func RunArch(dir string) string {
	for _, d := range []string{dir, filepath.Dir(dir)} {
		b, err := os.ReadFile(filepath.Join(d, "run.json"))
		if err != nil {
			continue
		}
		var run struct {
			Arch string `json:"arch"`
		}
		if json.Unmarshal(b, &run) == nil && run.Arch != "" {
			return run.Arch
		}
	}
	return ""
}
