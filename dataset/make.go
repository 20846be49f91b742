package dataset

import (
	"fmt"
	"io"

	"github.com/xraylab/xray/labels"
)

// ManifestConfig is what `xray dataset split` fills.
type ManifestConfig struct {
	Data     string       // data root (see Ingest for the layouts)
	Out      string       // manifest path, written atomically
	Split    SplitOptions // scheme, seed, fractions
	Verify   bool         // fully decode every image while ingesting
	Progress io.Writer    // progress bar; nil for none
	Log      io.Writer    // one warning line per skipped file; nil to discard
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
	in, err := Ingest(cfg.Data, IngestOptions{Verify: cfg.Verify, Progress: cfg.Progress})
	if err != nil {
		return nil, err
	}
	if cfg.Log != nil {
		for _, s := range in.Skipped {
			fmt.Fprintf(cfg.Log, "warning: skipped %s: %s\n", s.Path, s.Reason)
		}
	}
	entries, err := Split(in.Entries, cfg.Split)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Root: in.Root, Scheme: cfg.Split.Scheme, Seed: cfg.Split.Seed, Entries: entries}
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
	const row = "%-6s %9v %10v %7v\n"
	fmt.Fprintf(w, row, "split", labels.Default().Name(labels.Normal), labels.Default().Name(labels.Pneumonia), "total")
	var tot [2]int
	for _, s := range Subsets {
		c := r.Counts[s]
		tot[0] += c[0]
		tot[1] += c[1]
		fmt.Fprintf(w, row, s, c[0], c[1], c[0]+c[1])
	}
	fmt.Fprintf(w, row, "total", tot[0], tot[1], tot[0]+tot[1])
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
