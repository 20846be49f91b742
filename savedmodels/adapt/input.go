package adapt

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"

	"github.com/xraylab/xray/internal/parallel"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/progress"
)

// minImages is MinImages; the reference tests of the larger architectures lower it,
// since the computation checked does not depend on the count and each image costs a
// forward pass per level of layers.
var minImages = MinImages

// pixelCache holds every image, preprocessed once to uint8 pixels, in a file read back
// sequentially on each pass: decoding costs once, and memory holds one batch, however
// many images there are.
type pixelCache struct {
	f     *os.File
	n     int // images
	size  int // bytes per image
	scale preprocess.Scaling
}

// readImages preprocesses every image into a cache file in dir and returns it with the
// digest of the image set: "sha256:" over the sorted hex SHA-256 of each image (a file's
// bytes, see adaptInput), one per line (the same files in any order or place give the
// same digest).
func readImages(ctx context.Context, images iter.Seq2[adaptInput, error], pre preprocess.Preprocessor, dir string, opts Options) (*pixelCache, string, error) {
	f, err := os.CreateTemp(dir, "pixels-")
	if err != nil {
		return nil, "", err
	}
	c := &pixelCache{f: f, size: pre.Len(), scale: pre.Scaling}
	w := bufio.NewWriterSize(f, 1<<20)
	var sums []string
	var failed []FileError
	total := 0
	chunk := make([]adaptInput, 0, 64)
	flush := func() error {
		res := make([]struct {
			pix []uint8
			sum string
			err error
		}, len(chunk))
		parallel.For(len(chunk), opts.Workers, func(i int) {
			res[i].pix, res[i].sum, res[i].err = chunk[i].pixels(pre)
		})
		for i, r := range res {
			if r.err != nil {
				failed = append(failed, FileError{Path: chunk[i].name(), Err: r.err})
				continue
			}
			if _, err := w.Write(r.pix); err != nil {
				return err
			}
			sums = append(sums, r.sum)
			c.n++
		}
		chunk = chunk[:0]
		opts.Progress.Report(progress.Event{Task: TaskRead, Done: int64(total), Unit: "img"})
		return ctx.Err()
	}
	for in, err := range images {
		if err != nil {
			if in == nil { // the source itself broke (an unreadable list)
				c.close()
				return nil, "", err
			}
			failed = append(failed, FileError{Path: in.name(), Err: err})
			total++
			continue
		}
		chunk = append(chunk, in)
		total++
		if len(chunk) == cap(chunk) {
			if err := flush(); err != nil {
				c.close()
				return nil, "", err
			}
		}
	}
	err = flush()
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		c.close()
		return nil, "", err
	}
	switch {
	case len(failed) > 0:
		c.close()
		return nil, "", &UnreadableImagesError{Failed: failed, Total: total}
	case c.n < minImages:
		c.close()
		return nil, "", fmt.Errorf("%w: %d given", ErrTooFewImages, c.n)
	}
	slices.Sort(sums)
	h := sha256.New()
	for _, s := range sums {
		fmt.Fprintln(h, s)
	}
	return c, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// batches yields the cached images as float32 [n, size*size*3] pixels in groups of at
// most per, scaled as the model's preprocessing scales.
func (c *pixelCache) batches(per int) iter.Seq2[[]float32, error] {
	return func(yield func([]float32, error) bool) {
		if _, err := c.f.Seek(0, io.SeekStart); err != nil {
			yield(nil, err)
			return
		}
		r := bufio.NewReaderSize(c.f, 1<<20)
		raw := make([]uint8, per*c.size)
		pix := make([]float32, per*c.size)
		for _, k := range batchSizes(c.n, per) {
			if _, err := io.ReadFull(r, raw[:k*c.size]); err != nil {
				yield(nil, fmt.Errorf("read the image cache: %w", err))
				return
			}
			c.scale.Apply(raw[:k*c.size], pix)
			if !yield(pix[:k*c.size], nil) {
				return
			}
		}
	}
}

// batchSizes splits n images into batches of at most per, as even as possible, so no
// batch is a small remainder (in Batch each batch's own statistics normalise it).
func batchSizes(n, per int) []int {
	k := (n + per - 1) / per
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}

func (c *pixelCache) close() {
	c.f.Close()
	os.Remove(c.f.Name())
}
