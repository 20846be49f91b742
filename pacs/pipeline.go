package pacs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"sync"
	"time"

	"github.com/xraylab/xray/explain"
	"github.com/xraylab/xray/pacs/dicomweb"
	"github.com/xraylab/xray/savedmodels"
)

// A pass is a pipeline: discover queues the images to do a series at a time; Concurrency
// fetchers retrieve them (a whole series in one request where every image of it is to
// do) and decode them; the model runs them, in batches of what is waiting with SROnly,
// one image per worker with Grad-CAM; Concurrency storers write the SR and store it with
// the overlay. Each stage hands on through a bounded channel, so memory stays bounded by
// a few batches of images whatever the PACS holds.

// predictBatch is the most images one Predict call gets, as `xray predict` runs them: at
// small input sizes a session run of 2 images costs far more per image than one of 32.
const predictBatch = 32

// unit is one series' images to do.
type unit struct {
	study, series string
	todo          []dicomweb.Instance
	whole         bool // todo is every instance of the series: retrieve it in one request
}

// bySeries groups the images to do by series; inSeries counts each series' instances.
func bySeries(todo []dicomweb.Instance, inSeries map[string]int) []unit {
	var units []unit
	at := map[string]int{}
	for _, in := range todo {
		i, ok := at[in.Series]
		if !ok {
			i = len(units)
			at[in.Series] = i
			units = append(units, unit{study: in.Study, series: in.Series})
		}
		units[i].todo = append(units[i].todo, in)
	}
	for i := range units {
		units[i].whole = len(units[i].todo) == inSeries[units[i].series]
	}
	return units
}

// job is one image on its way through the pass.
type job struct {
	in  dicomweb.Instance
	src source
	img image.Image
	o   Outcome
	ex  *savedmodels.Explanation // with Grad-CAM: the overlay's heatmap
	now time.Time                // when the outcome was made: the results' content date and time
}

func (p *pass) run(ctx context.Context) (Summary, error) {
	p.sum = Summary{}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(in dicomweb.Instance, err error) {
		if err := p.fail(ctx, in, err); err != nil {
			cancel(err)
		}
	}
	units, images, results := make(chan unit), make(chan job, predictBatch), make(chan job, predictBatch)
	var fetchers, models, storers sync.WaitGroup // models: one, which batches
	for range p.cfg.Concurrency {
		fetchers.Go(func() {
			for u := range units {
				p.fetch(ctx, u, images, fail)
			}
		})
		storers.Go(func() {
			for batch := gather(results, predictBatch); len(batch) > 0; batch = gather(results, predictBatch) {
				p.store(ctx, batch, fail)
			}
		})
	}
	models.Go(func() { p.runModel(ctx, images, results, fail) })
	err := p.discover(ctx, units)
	close(units)
	fetchers.Wait()
	close(images)
	models.Wait()
	close(results)
	storers.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return p.sum, err
}

// fail reports an image's failure, and returns the error instead when the whole pass
// must stop: the PACS refuses us or stays unreachable, or the model cannot explain; every
// other image would fail the same way.
func (p *pass) fail(ctx context.Context, in dicomweb.Instance, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if fatal(err) {
		return err
	}
	p.cfg.Logger.Warn("image failed", "sop_instance_uid", in.SOP, "error", err)
	p.emit(Event{SOPInstanceUID: in.SOP, Action: ActionFailed, Error: err.Error()}, func(s *Summary) { s.Failed++ })
	return nil
}

func fatal(err error) bool {
	return errors.Is(err, dicomweb.ErrUnauthorized) || errors.Is(err, dicomweb.ErrUnavailable) || errors.Is(err, savedmodels.ErrNoGradCAM)
}

// fetch retrieves a unit's images and queues them for the model: a whole series in one
// request (its failure is logged, not reported), then whatever that did not deliver, and
// the images of a series partly done, one request each (their failures are reported).
func (p *pass) fetch(ctx context.Context, u unit, images chan<- job, fail func(dicomweb.Instance, error)) {
	left := make(map[string]dicomweb.Instance, len(u.todo))
	for _, in := range u.todo {
		left[in.SOP] = in
	}
	if u.whole {
		err := p.cfg.Client.RetrieveSeries(ctx, u.study, u.series, func(b []byte) error {
			src, err := readSource(b)
			in, ok := left[src.SOPInstanceUID]
			if err != nil || !ok {
				return nil // retrieved alone below, where its error is reported
			}
			delete(left, in.SOP)
			return p.decode(ctx, in, src, b, images, fail)
		})
		if err != nil && ctx.Err() == nil {
			p.cfg.Logger.Debug("series retrieval failed; retrieving its images one by one", "series_instance_uid", u.series, "error", err)
		}
	}
	for _, in := range u.todo {
		if _, ok := left[in.SOP]; !ok || ctx.Err() != nil {
			continue
		}
		b, err := p.cfg.Client.Retrieve(ctx, in)
		if err != nil {
			fail(in, err)
			continue
		}
		src, err := readSource(b)
		if err != nil {
			fail(in, err)
			continue
		}
		_ = p.decode(ctx, in, src, b, images, fail) // only ctx's end, which the pass reports
	}
}

// decode checks that a retrieved file is the instance asked for and decodes its image
// for the model; it fails only when ctx ends first.
func (p *pass) decode(ctx context.Context, in dicomweb.Instance, src source, b []byte, images chan<- job, fail func(dicomweb.Instance, error)) error {
	if src.SOPInstanceUID != in.SOP {
		fail(in, fmt.Errorf("retrieved instance is %s, asked for another", src.SOPInstanceUID))
		return nil
	}
	src.SeriesInstanceUID = in.Series
	img, err := p.cfg.Model.Preprocessor().Decode(b)
	if err != nil {
		fail(in, fmt.Errorf("decoding the image: %w", err))
		return nil
	}
	select {
	case images <- job{in: in, src: src, img: img}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runModel runs the model over the images in batches of what is waiting when it is
// free, up to predictBatch, as `xray predict` and `xray explain` do, and hands each
// outcome (with Grad-CAM, its explanation) to the storers.
func (p *pass) runModel(ctx context.Context, images <-chan job, results chan<- job, fail func(dicomweb.Instance, error)) {
	for batch := gather(images, predictBatch); len(batch) > 0; batch = gather(images, predictBatch) {
		outcome, batchErr := p.predict(ctx, batch)
		now := time.Now()
		for i, it := range batch {
			err := batchErr
			if err == nil {
				it.now = now
				err = outcome(i, &it)
			}
			if err != nil {
				fail(it.in, err)
				continue
			}
			select {
			case results <- it:
			case <-ctx.Done():
			}
		}
	}
}

// predict runs one batch: Predict, or Explain with Grad-CAM. outcome fills in image i's
// outcome (and explanation), or says why it has none.
func (p *pass) predict(ctx context.Context, batch []job) (outcome func(i int, it *job) error, err error) {
	meta := p.cfg.Model.Metadata()
	imgs := make([]image.Image, len(batch))
	for i, it := range batch {
		imgs[i] = it.img
	}
	if p.cfg.SROnly {
		preds, err := p.cfg.Model.Predict(ctx, imgs...)
		return func(i int, it *job) error {
			it.o = Outcome{Classes: meta.Classes, Probabilities: preds[i].Probabilities, Decision: preds[i].Decision, Threshold: meta.Threshold}
			it.img = nil
			return preds[i].Err
		}, err
	}
	exs, err := p.cfg.Model.Explain(ctx, imgs...)
	return func(i int, it *job) error {
		it.o = Outcome{Classes: meta.Classes, Probabilities: exs[i].Probabilities, Decision: exs[i].Decision, Threshold: meta.Threshold}
		it.ex = &exs[i]
		return exs[i].Err
	}, err
}

// gather waits for one image, then takes the ones already waiting, up to n; none when
// images is closed and empty.
func gather(images <-chan job, n int) []job {
	it, ok := <-images
	if !ok {
		return nil
	}
	batch := []job{it}
	for len(batch) < n {
		select {
		case it, ok := <-images:
			if !ok {
				return batch
			}
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// overlay writes the Secondary Capture of an image's Grad-CAM figure.
func (p *pass) overlay(it job, ex savedmodels.Explanation) ([]byte, error) {
	classes := p.cfg.Model.Metadata().Classes
	fig, err := explain.FigurePNG(it.img, ex, explain.Title("Grad-CAM", ex, classes), p.cfg.Alpha)
	if err != nil {
		return nil, err
	}
	figImg, err := png.Decode(bytes.NewReader(fig))
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("Grad-CAM heatmap of class %s (xray serving_gradcam) over the image as the model saw it", classes[ex.Explained])
	u := uidsFor(it.in, p.cfg.Info.Digest)
	return buildOverlay(it.src, p.cfg.Info, figImg, what, u.ovSeries, u.ov, it.now)
}

// results writes an image's results: the overlay (with Grad-CAM), then the SR.
func (p *pass) results(it job) ([][]byte, error) {
	u := uidsFor(it.in, p.cfg.Info.Digest)
	var files [][]byte
	if it.ex != nil {
		ov, err := p.overlay(it, *it.ex)
		if err != nil {
			return nil, err
		}
		files = append(files, ov)
	}
	sr, err := buildSR(it.src, p.cfg.Info, it.o, u.srSeries, u.sr, it.now)
	return append(files, sr), err
}

// store writes the results of a batch of images and stores them in one STOW request,
// each image's SR after its overlay: the SR, which marks the image done, is stored with
// or after it. If the PACS refuses the batch, each image is stored alone, so that a
// refusal is reported for the image it concerns.
func (p *pass) store(ctx context.Context, batch []job, fail func(dicomweb.Instance, error)) {
	ready, each := batch[:0], [][][]byte{}
	var files [][]byte
	for _, it := range batch {
		f, err := p.results(it)
		if err != nil {
			fail(it.in, err)
			continue
		}
		files = append(files, f...)
		ready, each = append(ready, it), append(each, f)
	}
	if len(ready) > 1 {
		err := p.cfg.Client.Store(ctx, "", files...)
		if err == nil {
			for _, it := range ready {
				p.stored(it)
			}
			return
		}
		if fatal(err) || ctx.Err() != nil {
			fail(ready[0].in, err)
			return
		}
		p.cfg.Logger.Debug("storing a batch failed; storing its images one by one", "images", len(ready), "error", err)
	}
	for i, it := range ready {
		if err := p.cfg.Client.Store(ctx, it.in.Study, each[i]...); err != nil {
			fail(it.in, err)
			continue
		}
		p.stored(it)
	}
}

func (p *pass) stored(it job) {
	u := uidsFor(it.in, p.cfg.Info.Digest)
	ev := Event{SOPInstanceUID: it.in.SOP, Action: ActionStored, Class: it.o.Classes[it.o.Decision],
		Probabilities: it.o.Probabilities, SR: u.sr}
	if !p.cfg.SROnly {
		ev.Overlay = u.ov
	}
	p.emit(ev, func(s *Summary) { s.Stored++ })
}
