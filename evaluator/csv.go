package evaluator

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/xraylab/xray/internal/atomicfile"
	"github.com/xraylab/xray/labels"
)

// PredictionsHeader is the header of predictions.csv. A model of more classes adds
// ClassColumn and one ClassProbPrefix+name column per class, in the vocabulary's order.
var PredictionsHeader = []string{"path", "label", "predicted", "p_normal", "p_pneumonia"}

// Columns a model of more classes adds to predictions.csv: its own true class (a name)
// and its probabilities, which read back into Record.Classes.
const (
	ClassColumn     = "class"
	ClassProbPrefix = "p_class_"
)

// WritePredictionsCSV writes records as predictions.csv atomically. Probabilities are
// written in the shortest form that reads back to the same float64, so a re-evaluation
// from the file (or sklearn on it) sees exactly the same numbers. Records of a model of
// more classes (Record.Classes set on the first) carry those classes too.
func WritePredictionsCSV(path string, records []Record) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := PredictionsHeader
	var set labels.Set
	if len(records) > 0 && records[0].Classes != nil {
		set = records[0].Classes.Set
		header = append(slices.Clone(header), ClassColumn)
		for _, name := range set.Names() {
			header = append(header, ClassProbPrefix+name)
		}
	}
	_ = w.Write(header)
	for i, r := range records {
		row := []string{r.Path, strconv.Itoa(r.Label), strconv.Itoa(r.Predicted()), formatProb(r.Probs[labels.Normal]), formatProb(r.Probs[labels.Pneumonia])}
		if set.Len() > 0 {
			c := r.Classes
			if c == nil || !c.Set.Equal(set) || len(c.Probs) != set.Len() {
				return fmt.Errorf("write %s: record %d (%s) does not hold the first record's classes %s", path, i+1, r.Path, set)
			}
			row = append(row, set.Name(c.Label))
			for _, p := range c.Probs {
				row = append(row, formatProb(p))
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

func formatProb(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

// ReadPredictionsCSV reads a predictions CSV. The header names the columns, in any order:
// path, label, p_normal and p_pneumonia are required, predicted is optional (when present
// it must equal the argmax, which catches swapped probability columns), others are
// ignored. Labels are 0/1 or normal/pneumonia. A class column with p_class_<name> columns
// (the vocabulary in header order, normal first) reads a model of more classes into
// Record.Classes. Errors name the file and line.
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
	cols, err := parsePredictionsHeader(path, header)
	if err != nil {
		return nil, err
	}
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
		rec, err := cols.record(fields)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no predictions after the header", path)
	}
	return recs, nil
}

// predictionsColumns locates predictions.csv's columns by header name.
type predictionsColumns struct {
	col        map[string]int
	predicted  int // -1: absent
	class      int // -1: a two-class file
	set        labels.Set
	classProbs []int // the p_class_<name> columns in the vocabulary's order
}

func parsePredictionsHeader(path string, header []string) (*predictionsColumns, error) {
	c := &predictionsColumns{col: map[string]int{}, predicted: -1, class: -1}
	var names []string
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		c.col[h] = i
		if name, ok := strings.CutPrefix(h, ClassProbPrefix); ok {
			names, c.classProbs = append(names, name), append(c.classProbs, i)
		}
	}
	for _, need := range []string{"path", "label", "p_normal", "p_pneumonia"} {
		if _, ok := c.col[need]; !ok {
			return nil, fmt.Errorf("%s line 1: no %q column in header %q; expected %s",
				path, need, strings.Join(header, ","), strings.Join(PredictionsHeader, ","))
		}
	}
	if i, ok := c.col["predicted"]; ok {
		c.predicted = i
	}
	i, hasClass := c.col[ClassColumn]
	if !hasClass && len(names) == 0 {
		return c, nil
	}
	set, err := labels.New(names...)
	if err == nil && (!hasClass || set.Len() < 3 || set.Name(0) != labels.Default().Name(labels.Normal)) {
		err = fmt.Errorf("want a %q column and %snormal then two or more classes", ClassColumn, ClassProbPrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("%s line 1: classes of the model: %v", path, err)
	}
	c.class, c.set = i, set
	return c, nil
}

// record reads one line's fields.
func (c *predictionsColumns) record(fields []string) (Record, error) {
	rec := Record{Path: fields[c.col["path"]]}
	var err error
	if rec.Label, err = labels.Default().Parse(fields[c.col["label"]]); err != nil {
		return rec, fmt.Errorf("label: %v", err)
	}
	for k, name := range []string{"p_normal", "p_pneumonia"} {
		if rec.Probs[k], err = parseProb(name, fields[c.col[name]]); err != nil {
			return rec, err
		}
	}
	if c.predicted >= 0 {
		pred, err := labels.Default().Parse(fields[c.predicted])
		if err != nil {
			return rec, fmt.Errorf("predicted: %v", err)
		}
		if pred != rec.Predicted() {
			return rec, fmt.Errorf("predicted %d is not the argmax %d of p_normal, p_pneumonia (ties go to 0); fix the columns or drop 'predicted'", pred, rec.Predicted())
		}
	}
	if c.class < 0 {
		return rec, nil
	}
	cp := &ClassProbs{Set: c.set, Probs: make([]float64, len(c.classProbs))}
	if cp.Label, err = c.set.Parse(fields[c.class]); err != nil {
		return rec, fmt.Errorf("%s: %v", ClassColumn, err)
	}
	for k, i := range c.classProbs {
		if cp.Probs[k], err = parseProb(ClassProbPrefix+c.set.Name(k), fields[i]); err != nil {
			return rec, err
		}
	}
	if min(cp.Label, labels.Pneumonia) != rec.Label {
		return rec, fmt.Errorf("label %d disagrees with %s %s (every class but normal is pneumonia)", rec.Label, ClassColumn, c.set.Name(cp.Label))
	}
	rec.Classes = cp
	return rec, nil
}

func parseProb(name, field string) (float64, error) {
	s := strings.TrimSpace(field)
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p != p || p < 0 || p > 1 {
		return 0, fmt.Errorf("%s %q is not a probability in [0, 1]", name, s)
	}
	return p, nil
}

func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s line %d: %v", path, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}
