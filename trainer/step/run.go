package step

import (
	"bytes"
	"fmt"
	"math"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/dataset/loader"
	"github.com/xraylab/xray/evaluator/metrics"
	"github.com/xraylab/xray/tfgraph"
)

// Batch is one step's input, as the dataset loader yields it.
type Batch = loader.Batch

// Train runs one optimizer update on b (images of size x size) at learning rate lr as
// update number iteration (1-based: Adam's bias correction), and returns the batch's
// mean loss and number of correct predictions, before the update.
func (g *Graph) Train(sess *tf.Session, m *tfgraph.Model, b Batch, size int, lr float64, iteration int64) (loss, correct float32, err error) {
	feeds, err := g.feeds(lr, iteration)
	if err != nil {
		return 0, 0, err
	}
	targets, err := g.feedBatch(feeds, m, b, size)
	if err != nil {
		return 0, 0, err
	}
	out, err := sess.Run(feeds, []tf.Output{g.Loss, g.Correct}, targets)
	if err != nil {
		return 0, 0, fmt.Errorf("training step %d: %w", iteration, err)
	}
	return out[0].Value().(float32), out[1].Value().(float32), nil
}

// feeds are the per-step scalars: the learning rate and the 1-based update number,
// each fed only when the graph has it as a placeholder.
func (g *Graph) feeds(lr float64, iteration int64) (map[tf.Output]*tf.Tensor, error) {
	lrT, err := tf.NewTensor(float32(lr))
	if err != nil {
		return nil, err
	}
	itT, err := tf.NewTensor(float32(iteration))
	if err != nil {
		return nil, err
	}
	feeds := map[tf.Output]*tf.Tensor{}
	if g.Iteration != (tf.Output{}) {
		feeds[g.Iteration] = itT
	}
	if g.FeedLR {
		feeds[g.LR] = lrT
	}
	return feeds, nil
}

// Running accumulates Keras's epoch averages: the loss weighted by batch size, and
// accuracy over all images.
type Running struct {
	lossSum float64
	correct float64
	n       int
	LR      float64 // learning rate of the last update
}

// Add counts a batch of n images by its mean loss and correct predictions.
func (r *Running) Add(meanLoss, correct float32, n int) {
	r.lossSum += float64(meanLoss) * float64(n)
	r.correct += float64(correct)
	r.n += n
}

// Loss is the mean loss over every image added (0 before any).
func (r Running) Loss() float64 {
	if r.n == 0 {
		return 0
	}
	return r.lossSum / float64(r.n)
}

// Accuracy is the fraction of images predicted correctly (0 before any).
func (r Running) Accuracy() float64 {
	if r.n == 0 {
		return 0
	}
	return r.correct / float64(r.n)
}

// Evaluate runs EvalBatch over the batches each hands to its fn (a split, in inference
// mode) and returns Keras's averages and the ROC AUC: of p(class 1) for two classes,
// else the macro average of the one-vs-rest areas (metrics.OneVsRestAUC); NaN when
// undefined (one class present, or a diverged model).
func (g *Graph) Evaluate(sess *tf.Session, m *tfgraph.Model, size int, each func(fn func(Batch) error) error) (Running, float64, error) {
	var r Running
	var labels []int
	var probs [][]float64
	err := each(func(b Batch) error {
		loss, correct, p, err := g.EvalBatch(sess, m, b, size)
		if err != nil {
			return err
		}
		r.Add(loss, correct, b.Len())
		k := len(p) / b.Len()
		for i, l := range b.Labels {
			row := make([]float64, k)
			for c := range row {
				row[c] = float64(p[k*i+c])
			}
			labels, probs = append(labels, l), append(probs, row)
		}
		return nil
	})
	if err != nil {
		return r, math.NaN(), err
	}
	auc, _, aerr := metrics.OneVsRestAUC(labels, probs)
	if len(probs) > 0 && len(probs[0]) == 2 {
		scores := make([]float64, len(probs))
		for i, p := range probs {
			scores[i] = p[1]
		}
		auc, aerr = metrics.ROCAUC(labels, scores)
	}
	if aerr != nil {
		auc = math.NaN()
	}
	return r, auc, nil
}

// batchTensors turns a batch into the image and label feeds.
func batchTensors(b Batch, size int) (*tf.Tensor, *tf.Tensor, error) {
	img, err := Tensor(b.Images, []int64{int64(b.Len()), int64(size), int64(size), 3})
	if err != nil {
		return nil, nil, err
	}
	lab, err := Tensor(b.OneHot, []int64{int64(b.Len()), int64(len(b.OneHot) / max(1, b.Len()))})
	if err != nil {
		return nil, nil, err
	}
	return img, lab, nil
}

// Tensor wraps a flat float32 slice as a tensor of the given shape without converting
// to nested slices.
func Tensor(data []float32, shape []int64) (*tf.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if int64(len(data)) != n {
		return nil, fmt.Errorf("tensor of shape %v needs %d values, got %d", shape, n, len(data))
	}
	return tf.ReadTensor(tf.Float, shape, bytes.NewReader(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))))
}
