package evaluator

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/xraylab/xray/decision"
	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/labels"
)

// Record is one evaluated image.
type Record struct {
	// Path identifies the image; keep it relative to the data root (as in the dataset
	// manifest) so that SplitSHA256 matches across machines.
	Path string
	// Label is the true class: 0 normal, 1 pneumonia.
	Label int
	// Probs are the model's class probabilities (p_normal, p_pneumonia).
	Probs [2]float64
	// Classes holds a model of more classes' own label and probabilities, of which Label
	// and Probs are the normal-vs-pneumonia view; nil for two-class models.
	Classes *ClassProbs
}

// Predicted is the argmax class; a tie goes to class 0 (normal), as np.argmax does.
func (r Record) Predicted() int {
	if r.Probs[labels.Pneumonia] > r.Probs[labels.Normal] {
		return labels.Pneumonia
	}
	return labels.Normal
}

// BinaryRecord is one prediction's normal-vs-pneumonia record. For a model of more
// classes (normal, bacterial, viral) p_pneumonia is the sum of the other classes'
// probabilities and every label but normal (0) is pneumonia: the Kermany paper's normal
// vs pneumonia view, comparable with two-class models (xray compare). Two-class
// predictions pass unchanged.
func BinaryRecord(path string, label int, probs []float32) Record {
	r := Record{Path: path, Label: min(label, labels.Pneumonia), Probs: [2]float64{float64(probs[labels.Normal])}}
	for _, p := range probs[labels.Normal+1:] {
		r.Probs[labels.Pneumonia] += float64(p)
	}
	return r
}

// Options describe an evaluation; all fields are optional.
type Options struct {
	Model  string // architecture, e.g. "mobilenet"; recorded in metrics.json for xray compare
	Split  string // split name, e.g. "test"
	Source string // where the predictions came from (a SavedModel dir or a CSV)
	// ConfidenceLevel of the Wilson intervals; 0 means 0.95.
	ConfidenceLevel float64
	// Threshold is the model's operating point (from its SavedModel metadata); nil for
	// none. With one, metrics.json and report.md hold the thresholded decision beside
	// the argmax one.
	Threshold *decision.Threshold
	// ByThreshold makes the thresholded decision the primary one (confusion matrix,
	// classification report, Table 1) instead of the paper's argmax.
	ByThreshold bool
}

// ErrNoThreshold is returned when the thresholded decision is asked for and the model
// stores no operating threshold (trained before thresholds existed, or with argmax).
var ErrNoThreshold = errors.New("the model stores no operating threshold (trained with argmax or before thresholds existed): decide by argmax")

// Report is one evaluation: the metrics plus what the files and plots are drawn from.
type Report struct {
	Metrics Metrics
	// Records in input order; predictions.csv is written from them.
	Records []Record
	// ROC is sklearn's roc_curve (drop_intermediate=True); nil when only one class is present.
	ROC []metrics.ROCPoint
}

// Evaluate computes the report for records. Labels must be 0 or 1 and probabilities
// finite numbers in [0, 1]; the error names the first offending record.
func Evaluate(records []Record, opts Options) (*Report, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("evaluate: no records to evaluate")
	}
	level := opts.ConfidenceLevel
	if level == 0 {
		level = 0.95
	}
	if !(level > 0 && level < 1) {
		return nil, fmt.Errorf("evaluate: confidence level %v outside (0, 1)", level)
	}
	if opts.ByThreshold && (opts.Threshold == nil || opts.Threshold.IsArgmax()) {
		return nil, fmt.Errorf("evaluate: %w", ErrNoThreshold)
	}
	truth := make([]int, len(records))
	argmax := make([]int, len(records))
	scores := make([]float64, len(records))
	for i, r := range records {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("evaluate: record %d (%s): %w", i+1, r.Path, err)
		}
		truth[i], argmax[i], scores[i] = r.Label, r.Predicted(), r.Probs[labels.Pneumonia]
	}
	decisions := []DecisionMetrics{decisionMetrics(truth, argmax, nil, level)}
	predicted := argmax
	if t := opts.Threshold; t != nil && !t.IsArgmax() {
		thresholded := make([]int, len(records))
		for i, r := range records {
			thresholded[i] = t.Class(r.Probs)
		}
		decisions = append(decisions, decisionMetrics(truth, thresholded, t, level))
		if opts.ByThreshold {
			predicted = thresholded
		}
	}
	m, curve := computeMetrics(truth, predicted, scores, level)
	var err error
	m.Decisions = decisions
	if opts.ByThreshold {
		m.Prediction = fmt.Sprintf("p_pneumonia >= %v, the model's operating threshold (%s on its validation split)",
			opts.Threshold.Value, opts.Threshold.Rule)
	}
	if m.MultiClass, m.BacterialVsViral, err = classesOf(records, level); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	m.Model, m.Split, m.Source = opts.Model, opts.Split, opts.Source
	m.Table1.Model = opts.Model
	m.SplitSHA256 = SplitSHA256(records)
	return &Report{Metrics: m, Records: records, ROC: curve}, nil
}

func (r Record) validate() error {
	if r.Label != labels.Normal && r.Label != labels.Pneumonia {
		return fmt.Errorf("label %d is not 0 (normal) or 1 (pneumonia)", r.Label)
	}
	for k, p := range r.Probs {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return fmt.Errorf("p_%s = %v is not a probability in [0, 1]", labels.Default().Name(k), p)
		}
	}
	return nil
}

// SplitSHA256 fingerprints which images were evaluated with which labels: the sha256 of
// "path\tlabel\n" lines sorted by path, hex encoded. Order of evaluation does not matter.
func SplitSHA256(records []Record) string {
	lines := make([]string, len(records))
	for i, r := range records {
		lines[i] = r.Path + "\t" + strconv.Itoa(r.Label) + "\n"
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Config is one `xray evaluate` invocation once its inputs are known.
type Config struct {
	// Records to evaluate, e.g. from running a SavedModel. When nil, Predictions is read.
	Records []Record
	// Predictions is a predictions CSV (path,label[,predicted],p_normal,p_pneumonia).
	Predictions string
	// Out receives the output files; "" means the directory of Predictions. An existing
	// predictions.csv that is the input itself is left untouched.
	Out string
	Options
}

// OutDir is where Run writes: Out, else the directory of Predictions.
func (cfg Config) OutDir() string {
	if cfg.Out == "" && cfg.Predictions != "" {
		return filepath.Dir(cfg.Predictions)
	}
	return cfg.Out
}

// Run reads the records if needed, evaluates them and writes the outputs to cfg.Out.
// When Options.Model is empty it is taken from a run.json beside or above the output.
func Run(cfg Config) (*Report, error) {
	recs := cfg.Records
	if recs == nil {
		if cfg.Predictions == "" {
			return nil, fmt.Errorf("evaluate: neither records nor a predictions CSV given")
		}
		var err error
		if recs, err = ReadPredictionsCSV(cfg.Predictions); err != nil {
			return nil, err
		}
		if cfg.Source == "" {
			cfg.Source = cfg.Predictions
		}
	}
	out := cfg.OutDir()
	if out == "" {
		return nil, fmt.Errorf("evaluate: no output directory given")
	}
	if cfg.Model == "" {
		cfg.Model = RunArch(out)
	}
	rep, err := Evaluate(recs, cfg.Options)
	if err != nil {
		if cfg.Predictions != "" && cfg.Records == nil {
			return nil, fmt.Errorf("%s: %w", cfg.Predictions, err)
		}
		return nil, err
	}
	skipCSV := cfg.Records == nil && sameFile(cfg.Predictions, filepath.Join(out, PredictionsFile))
	if err := writeOutputs(out, rep, !skipCSV); err != nil {
		return nil, err
	}
	return rep, nil
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}
