package dataset

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/progress"
)

// ManifestConfig is what `xray dataset split` fills.
type ManifestConfig struct {
	Data     string        // data root (see Ingest for the layouts)
	Out      string        // manifest path, written atomically
	Split    SplitOptions  // scheme, seed, fractions
	Classes  labels.Set    // labels.Default (the zero Set) or labels.Subtypes; see IngestOptions
	Verify   bool          // fully decode every image while ingesting
	Progress progress.Func // called as files are checked; nil for none
	Logger   *slog.Logger  // one Warn record per skipped file ("skipped", path, reason); nil: discarded
}

// DefaultManifestConfig has the paper's split and seed 42.
func DefaultManifestConfig() ManifestConfig { return ManifestConfig{Split: DefaultSplitOptions()} }

// SplitReport says what MakeManifest wrote.
type SplitReport struct {
	Manifest   *Manifest
	Layout     string
	Counts     Counts
	Skipped    []Skip
	Leaks      int // patients in more than one split of this manifest
	PaperLeaks int // patients that the paper scheme with the same seed would leak
	Duplicates int // files whose bytes equal an earlier file's
	DupAcross  int // ... of which sit in a different split than their twin
}

// MakeManifest ingests cfg.Data, splits it and writes the manifest to cfg.Out.
func MakeManifest(cfg ManifestConfig) (*SplitReport, error) {
	if cfg.Data == "" || cfg.Out == "" {
		return nil, fmt.Errorf("make manifest: data folder and output path are required")
	}
	if err := cfg.Split.Validate(); err != nil {
		return nil, err
	}
	in, err := Ingest(cfg.Data, IngestOptions{Verify: cfg.Verify, Progress: cfg.Progress, Classes: cfg.Classes})
	if err != nil {
		return nil, err
	}
	if cfg.Logger != nil {
		for _, s := range in.Skipped {
			cfg.Logger.Warn("skipped", "path", s.Path, "reason", s.Reason)
		}
	}
	entries, err := Split(in.Entries, cfg.Split)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Root: in.Root, Classes: in.Classes, Scheme: cfg.Split.Scheme, Seed: cfg.Split.Seed, Entries: entries}
	if err := WriteManifest(cfg.Out, m); err != nil {
		return nil, err
	}
	r := &SplitReport{Manifest: m, Layout: in.Layout, Counts: Count(entries), Skipped: in.Skipped, Leaks: PatientLeaks(entries)}
	r.PaperLeaks = r.Leaks
	if cfg.Split.Scheme != Paper {
		po := cfg.Split
		po.Scheme, po.ValFromFolder = Paper, false
		pe, err := Split(in.Entries, po)
		if err != nil {
			return nil, err
		}
		r.PaperLeaks = PatientLeaks(pe)
	}
	first := map[string]Subset{}
	for _, e := range entries {
		if s, ok := first[e.SHA256]; ok {
			r.Duplicates++
			if s != e.Split {
				r.DupAcross++
			}
			continue
		}
		first[e.SHA256] = e.Split
	}
	return r, nil
}

// WriteTable prints the per-split, per-class counts and the checks, for people.
func (r *SplitReport) WriteTable(w io.Writer) {
	classes := r.Manifest.ClassSet()
	row := func(name string, counts []int) {
		fmt.Fprintf(w, "%-6s", name)
		sum := 0
		for k, c := range counts {
			fmt.Fprintf(w, " %*d", colWidth(classes.Name(k)), c)
			sum += c
		}
		fmt.Fprintf(w, " %7d\n", sum)
	}
	fmt.Fprintf(w, "%-6s", "split")
	for _, n := range classes.Names() {
		fmt.Fprintf(w, " %*s", colWidth(n), n)
	}
	fmt.Fprintf(w, " %7s\n", "total")
	tot := make([]int, classes.Len())
	for _, s := range Subsets {
		c := r.Counts[s]
		for k := range tot {
			if k < len(c) {
				tot[k] += c[k]
			}
		}
		row(string(s), append(c[:0:0], c...))
	}
	row("total", tot)
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "skipped: %d (see log)\n", len(r.Skipped))
	} else {
		fmt.Fprintln(w, "skipped: 0")
	}
	m := r.Manifest
	if m.Scheme == Paper {
		fmt.Fprintf(w, "patients in more than one split: %d (the patient scheme has none)\n", r.Leaks)
	} else {
		fmt.Fprintf(w, "patients in more than one split: %d (the paper scheme with seed %d: %d)\n", r.Leaks, m.Seed, r.PaperLeaks)
	}
	if r.Duplicates > 0 {
		fmt.Fprintf(w, "byte-identical files: %d, %d of them in a different split than their twin\n", r.Duplicates, r.DupAcross)
	}
}

// colWidth is a class column's width in the table.
func colWidth(name string) int { return max(9, len(name)+1) }
