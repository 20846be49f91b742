package preprocess

import (
	"bytes"
	"fmt"
	"image"
	"sync"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/tflog"
)

// runner is GraphDef loaded in a session of its own. Sessions are safe for concurrent
// Run calls, so one per input size serves every goroutine of the process; they live as
// long as the process (a few MB each).
type runner struct {
	sess                                            *tf.Session
	contents, orientation, upright, decoded, pixels tf.Output
}

var (
	runnersMu sync.Mutex
	runners   = map[int]*runner{}
)

// runnerFor returns the process's session for input size size, building it once.
func runnerFor(size int) (*runner, error) {
	runnersMu.Lock()
	defer runnersMu.Unlock()
	if r := runners[size]; r != nil {
		return r, nil
	}
	def, err := Preprocessor{Size: size, Scaling: Unit}.GraphDef()
	if err != nil {
		return nil, err
	}
	g := tf.NewGraph()
	if err := g.Import(def, ""); err != nil {
		return nil, fmt.Errorf("load the preprocessing graph: %v", err)
	}
	// One inter-op thread per Run, in a pool of its own: callers decode many images at
	// once on their own goroutines.
	tflog.Once(ownInterOpPool)
	sess, err := tf.NewSession(g, &tf.SessionOptions{Config: ownInterOpPool})
	if err != nil {
		return nil, fmt.Errorf("start the preprocessing session: %v", err)
	}
	r := &runner{sess: sess}
	for _, x := range []struct {
		dst  *tf.Output
		name string
	}{{&r.contents, GraphInput}, {&r.orientation, GraphOrientation}, {&r.upright, GraphUpright}, {&r.decoded, GraphDecoded}, {&r.pixels, GraphPixels}} {
		o := g.Operation(x.name)
		if o == nil {
			return nil, fmt.Errorf("preprocessing graph: no op %q", x.name)
		}
		*x.dst = o.Output(0)
	}
	runners[size] = r
	return r, nil
}

// ownInterOpPool is a serialized ConfigProto{inter_op_parallelism_threads: 1,
// use_per_session_threads: true}: fields 5 and 9, varint 1. It leaves
// intra_op_parallelism_threads unset on purpose: TensorFlow sizes the process-wide CPU
// device pool from the first session it creates, and this one often comes first, so
// setting it here would silently make training single-threaded (and change its sums'
// order: trainer's Keras parity caught it).
var ownInterOpPool = []byte{0x28, 0x01, 0x48, 0x01}

// run feeds one encoded file with its orientation and fetches out.
func (r *runner) run(kind string, b []byte, out tf.Output) (*tf.Tensor, error) {
	in, err := tf.NewTensor(string(b))
	if err != nil {
		return nil, err
	}
	o := int32(1)
	if kind == "jpeg" {
		o = int32(jpegOrientation(b))
	}
	ot, err := tf.NewTensor(o)
	if err != nil {
		return nil, err
	}
	res, err := r.sess.Run(map[tf.Output]*tf.Tensor{r.contents: in, r.orientation: ot}, []tf.Output{out}, nil)
	if err != nil {
		return nil, fmt.Errorf("corrupt %s: %s", kind, oneLine(err.Error()))
	}
	return res[0], nil
}

// pixelsOf runs the resize part of the graph on an upright uint8 image, [h, w, 1] or
// [h, w, 3], by feeding it in place of the decoder's output (as float32 in native byte
// order, the layout of a TensorFlow tensor).
func (r *runner) pixelsOf(pix []uint8, h, w, c int) ([]uint8, error) {
	f := make([]float32, len(pix))
	for i, v := range pix {
		f[i] = float32(v)
	}
	t, err := tf.ReadTensor(tf.Float, []int64{int64(h), int64(w), int64(c)}, bytes.NewReader(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))))
	if err != nil {
		return nil, err
	}
	res, err := r.sess.Run(map[tf.Output]*tf.Tensor{r.upright: t}, []tf.Output{r.pixels}, nil)
	if err != nil {
		return nil, fmt.Errorf("preprocess a %d x %d image: %s", w, h, oneLine(err.Error()))
	}
	return flatU8(res[0])
}

// flatU8 copies a uint8 tensor's values out in row-major order.
func flatU8(t *tf.Tensor) ([]uint8, error) {
	n := int64(1)
	for _, d := range t.Shape() {
		n *= d
	}
	if t.DataType() != tf.Uint8 {
		return nil, fmt.Errorf("preprocessing returned %v values, want uint8", t.DataType())
	}
	var buf bytes.Buffer
	buf.Grow(int(n))
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, err
	}
	if int64(buf.Len()) != n {
		return nil, fmt.Errorf("preprocessing returned %d bytes for shape %v", buf.Len(), t.Shape())
	}
	return buf.Bytes(), nil
}

// imageOf turns the graph's upright [h, w, c] uint8 tensor into an *image.Gray (c = 1)
// or an opaque *image.NRGBA (c = 3).
func imageOf(t *tf.Tensor) (image.Image, error) {
	sh := t.Shape()
	if len(sh) != 3 || (sh[2] != 1 && sh[2] != 3) {
		return nil, fmt.Errorf("decoder returned shape %v", sh)
	}
	h, w, c := int(sh[0]), int(sh[1]), int(sh[2])
	pix, err := flatU8(t)
	if err != nil {
		return nil, err
	}
	if c == 1 {
		return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}, nil
	}
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = pix[3*i], pix[3*i+1], pix[3*i+2], 0xFF
	}
	return m, nil
}
