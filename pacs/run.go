package pacs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xraylab/xray/pacs/dicomweb"
	"github.com/xraylab/xray/savedmodels"
)

// Config is one pass (Run) or a watch (Watch) over a PACS.
type Config struct {
	Client *dicomweb.Client
	Model  *savedmodels.Model
	Info   ModelInfo // ModelInfoOf(Model)
	// Modalities are the image modalities read (default CR, DX).
	Modalities []string
	// BodyPart is the BodyPartExamined an image must have (default CHEST); "*" takes any.
	BodyPart     string
	Since, Until time.Time // StudyDate range; zero: open
	Study        string    // one study's UID; "": all
	DryRun       bool      // list what would be done; retrieve and store nothing
	Concurrency  int       // series retrieved, and result batches stored, at once (default 2)
	Alpha        float64   // overlay heatmap opacity, 0 to 1 (explain.DefaultAlpha is usual)
	// SROnly stores the SR alone: no Grad-CAM, no overlay, so a pass does only the
	// prediction (batched across the instances in flight). An image is done once its SR is
	// stored: a later pass with overlays does not add them to images done without.
	SROnly bool
	Logger *slog.Logger
	// Emit receives each instance's event as it is decided (from several goroutines,
	// one at a time). Nil: events are only counted.
	Emit func(Event)
}

// Actions of an Event.
const (
	ActionStored  = "stored"      // SR and overlay (none with Config.SROnly) stored in the study
	ActionSkipped = "skipped"     // our SR for this image and model is already in the PACS
	ActionWould   = "would-store" // dry run: would be retrieved, predicted and stored
	ActionFailed  = "failed"      // this image failed (Error says why); the others go on
)

// Event is what happened to one source image. It names the image by its SOP Instance UID
// only: no patient attribute ever leaves the DICOM files.
type Event struct {
	SOPInstanceUID string    `json:"sop_instance_uid"`
	Action         string    `json:"action"`
	Class          string    `json:"class,omitempty"` // the decided class
	Probabilities  []float32 `json:"probabilities,omitempty"`
	SR             string    `json:"sr_instance_uid,omitempty"`
	Overlay        string    `json:"overlay_instance_uid,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// Summary counts a pass.
type Summary struct {
	Studies, Images, Stored, Skipped, Would, Failed int
}

func (c *Config) defaults() error {
	if c.Client == nil || (c.Model == nil && !c.DryRun) {
		return errors.New("pacs: Config needs a Client and a Model")
	}
	if len(c.Modalities) == 0 {
		c.Modalities = []string{"CR", "DX"}
	}
	if c.BodyPart == "" {
		c.BodyPart = "CHEST"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if !(c.Alpha >= 0 && c.Alpha <= 1) {
		return fmt.Errorf("pacs: overlay opacity %v: give a value from 0 to 1", c.Alpha)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// resultUIDs are the UIDs of the results for one source image and model: derived, so
// every run computes the same ones and a stored SR is found by its UID.
type resultUIDs struct{ srSeries, sr, ovSeries, ov string }

func uidsFor(in dicomweb.Instance, digest string) resultUIDs {
	return resultUIDs{
		srSeries: derivedUID("sr-series", in.Series, digest), sr: derivedUID("sr", in.SOP, digest),
		ovSeries: derivedUID("overlay-series", in.Series, digest), ov: derivedUID("overlay", in.SOP, digest),
	}
}

// Run makes one pass: every study holding an image of the modalities, every such image
// of the body part without our SR (for this model) gets one, and an overlay. Images that
// fail are reported and counted; the pass goes on. It stops early, with the error, when
// the PACS refuses the credentials (dicomweb.ErrUnauthorized) or stays unreachable (dicomweb.ErrUnavailable):
// nothing is lost, a later Run starts where this one stopped.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.defaults(); err != nil {
		return Summary{}, err
	}
	return (&pass{cfg: cfg, done: map[string]int{}}).run(ctx)
}

// pass holds one Run's or Watch's state.
type pass struct {
	cfg  Config
	done map[string]int // study UID -> instance count when it last needed nothing (Watch)
	mu   sync.Mutex     // serialises Emit and the summary
	sum  Summary
}

// discover lists the studies and their instances and queues the images to do, a series
// at a time.
func (p *pass) discover(ctx context.Context, work chan<- unit) error {
	studies := map[string]dicomweb.Study{}
	var order []string
	for _, mod := range p.cfg.Modalities {
		ss, err := p.cfg.Client.Studies(ctx, dicomweb.StudyQuery{Modality: mod, Since: p.cfg.Since, Until: p.cfg.Until, StudyUID: p.cfg.Study})
		if err != nil {
			return fmt.Errorf("finding studies: %w", err)
		}
		for _, s := range ss {
			if _, ok := studies[s.UID]; !ok && s.UID != "" {
				studies[s.UID] = s
				order = append(order, s.UID)
			}
		}
	}
	for _, uid := range order {
		if n, ok := p.done[uid]; ok && n == studies[uid].Instances {
			continue // unchanged since a pass found nothing to do in it
		}
		p.add(func(s *Summary) { s.Studies++ })
		todo, err := p.study(ctx, uid)
		if err != nil {
			return err
		}
		if len(todo) == 0 && !p.cfg.DryRun {
			p.done[uid] = studies[uid].Instances
		}
		for _, u := range todo {
			select {
			case work <- u:
			case <-ctx.Done():
				return nil // a worker's fatal error or the caller's cancel; run reports it
			}
		}
	}
	return nil
}

// study lists one study's images to do, by series; the ones already done are reported as
// skipped.
func (p *pass) study(ctx context.Context, uid string) ([]unit, error) {
	all, err := p.cfg.Client.Instances(ctx, uid)
	if err != nil {
		return nil, fmt.Errorf("listing a study's instances: %w", err)
	}
	have, inSeries := map[string]bool{}, map[string]int{}
	for _, in := range all {
		have[in.SOP] = true
		inSeries[in.Series]++
	}
	var todo []dicomweb.Instance
	for _, in := range all {
		if !slices.Contains(p.cfg.Modalities, in.Modality) || (p.cfg.BodyPart != "*" && in.BodyPart != strings.ToUpper(p.cfg.BodyPart)) {
			continue
		}
		p.add(func(s *Summary) { s.Images++ })
		u := uidsFor(in, p.cfg.Info.Digest)
		switch {
		case have[u.sr]:
			p.emit(Event{SOPInstanceUID: in.SOP, Action: ActionSkipped, SR: u.sr}, func(s *Summary) { s.Skipped++ })
		case p.cfg.DryRun:
			e := Event{SOPInstanceUID: in.SOP, Action: ActionWould, SR: u.sr, Overlay: u.ov}
			if p.cfg.SROnly {
				e.Overlay = ""
			}
			p.emit(e, func(s *Summary) { s.Would++ })
		default:
			todo = append(todo, in)
		}
	}
	return bySeries(todo, inSeries), nil
}

func (p *pass) add(f func(*Summary)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.sum)
}

func (p *pass) emit(e Event, count func(*Summary)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	count(&p.sum)
	if p.cfg.Emit != nil {
		p.cfg.Emit(e)
	}
}

// Watch runs a pass every interval until ctx is done, passing over studies whose
// instance count has not changed since a pass found nothing to do in them. Each pass's
// summary goes to report. A pass ending on dicomweb.ErrUnauthorized ends the watch; other pass
// errors are reported and the next pass tries again.
func Watch(ctx context.Context, cfg Config, interval time.Duration, report func(Summary, error)) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	p := &pass{cfg: cfg, done: map[string]int{}}
	for {
		sum, err := p.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		report(sum, err)
		if errors.Is(err, dicomweb.ErrUnauthorized) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
