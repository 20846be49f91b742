package evaluator

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/labels"
)

// PredictionsHeader is the header of predictions.csv.
var PredictionsHeader = []string{"path", "label", "predicted", "p_normal", "p_pneumonia"}

// WritePredictionsCSV writes records as predictions.csv atomically. Probabilities are
// written in the shortest form that reads back to the same float64, so a re-evaluation
// from the file (or sklearn on it) sees exactly the same numbers.
func WritePredictionsCSV(path string, records []Record) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(PredictionsHeader)
	for _, r := range records {
		_ = w.Write([]string{
			r.Path,
			strconv.Itoa(r.Label),
			strconv.Itoa(r.Predicted()),
			strconv.FormatFloat(r.Probs[labels.Normal], 'g', -1, 64),
			strconv.FormatFloat(r.Probs[labels.Pneumonia], 'g', -1, 64),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// ReadPredictionsCSV reads a predictions CSV. The header names the columns, in any order:
// path, label, p_normal and p_pneumonia are required, predicted is optional (when present
// it must equal the argmax, which catches swapped probability columns), others are
// ignored. Labels are 0/1 or normal/pneumonia. Errors name the file and line.
func ReadPredictionsCSV(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read predictions: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1 // checked below with a clearer message
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file; expected a header %s", path, strings.Join(PredictionsHeader, ","))
	}
	if err != nil {
		return nil, csvError(path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"path", "label", "p_normal", "p_pneumonia"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s line 1: no %q column in header %q; expected %s",
				path, need, strings.Join(header, ","), strings.Join(PredictionsHeader, ","))
		}
	}
	predCol, hasPred := col["predicted"]
	var recs []Record
	for {
		fields, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(path, err)
		}
		line, _ := r.FieldPos(0)
		if len(fields) != len(header) {
			return nil, fmt.Errorf("%s line %d: %d fields, the header has %d", path, line, len(fields), len(header))
		}
		rec := Record{Path: fields[col["path"]]}
		if rec.Label, err = labels.Default().Parse(fields[col["label"]]); err != nil {
			return nil, fmt.Errorf("%s line %d: label: %v", path, line, err)
		}
		for k, name := range []string{"p_normal", "p_pneumonia"} {
			s := strings.TrimSpace(fields[col[name]])
			p, err := strconv.ParseFloat(s, 64)
			if err != nil || p != p || p < 0 || p > 1 {
				return nil, fmt.Errorf("%s line %d: %s %q is not a probability in [0, 1]", path, line, name, s)
			}
			rec.Probs[k] = p
		}
		if hasPred {
			pred, err := labels.Default().Parse(fields[predCol])
			if err != nil {
				return nil, fmt.Errorf("%s line %d: predicted: %v", path, line, err)
			}
			if pred != rec.Predicted() {
				return nil, fmt.Errorf("%s line %d: predicted %d is not the argmax %d of p_normal, p_pneumonia (ties go to 0); fix the columns or drop 'predicted'",
					path, line, pred, rec.Predicted())
			}
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no predictions after the header", path)
	}
	return recs, nil
}

func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s line %d: %v", path, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}
