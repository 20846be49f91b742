package preprocess

import (
	"bytes"
	"fmt"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// Names of the ops in the preprocessing graph (GraphDef) that callers feed or fetch.
const (
	// GraphInput is the string scalar placeholder fed with one encoded file.
	GraphInput = "contents"
	// GraphOrientation is an int32 scalar, the EXIF orientation 1..8 to undo; it defaults
	// to 1 (as stored) when not fed.
	GraphOrientation = "orientation"
	// GraphUpright is the decoded, upright image as float32 sample values 0..255, [h, w, 1]
	// for grayscale sources and [h, w, 3] otherwise. Feeding it skips decoding (Pixels
	// does, for an image.Image). Float from the decoder on, because TensorFlow logs an
	// oneDNN error line for uint8 Slice on CPUs without AVX-512.
	GraphUpright = "upright"
	// GraphDecoded is GraphUpright as uint8, what Decode returns.
	GraphDecoded = "decoded"
	// GraphPixels is the resized uint8 [Size, Size, 3] result, before scaling.
	GraphPixels = "pixels"
	// GraphOutput is the scaled float32 [Size, Size, 3] result.
	GraphOutput = "scaled"
)

// GraphDef is the preprocessing as a serialized TensorFlow GraphDef: the one definition
// that Preprocessor runs in-process and that a SavedModel's serving_bytes embeds, so
// both give the same bits. One encoded file (GraphInput) in, GraphPixels and GraphOutput
// out:
//
//   - DecodeJpeg(channels=0, dct_method=INTEGER_ACCURATE): libjpeg-turbo's ISLOW IDCT with
//     fancy upsampling, or libpng (the kernel sniffs the format); 16-bit PNG samples keep
//     their high byte; alpha is dropped and gray stays one channel until the end;
//   - the EXIF orientation (GraphOrientation) undone with Transpose and Reverse, as PIL's
//     ImageOps.exif_transpose;
//   - tf.image.resize(bilinear, antialias=True) to Size x Size (one ScaleAndTranslate,
//     triangle kernel), rounded half up to uint8 values (floor(x+0.5), clipped to 0..255);
//   - gray repeated to three channels, then Scaling.Apply's float32 ops.
func (p Preprocessor) GraphDef() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s := op.NewScope()
	c := func(name string, v any) tf.Output { return op.Const(s.SubScope(name), v) }
	contents := s.AddOperation(tf.OpSpec{Type: "Placeholder", Name: GraphInput, Attrs: map[string]any{"dtype": tf.String, "shape": tf.ScalarShape()}}).Output(0)
	orientation := s.AddOperation(tf.OpSpec{Type: "PlaceholderWithDefault", Name: GraphOrientation,
		Input: []tf.Input{c("orientation_default", int32(1))}, Attrs: map[string]any{"shape": tf.ScalarShape()}}).Output(0)
	dec := op.DecodeJpeg(s.SubScope("decode"), contents, op.DecodeJpegChannels(0), op.DecodeJpegDctMethod("INTEGER_ACCURATE"))
	// Keep one channel of gray (and gray+alpha), three of RGB(A): k = 1 + 2*(c >= 3).
	nc := op.Gather(s.SubScope("nc"), op.Shape(s.SubScope("dec_shape"), dec, op.ShapeOutType(tf.Int32)), c("two", int32(2)))
	k := op.AddV2(s.SubScope("k"), c("k1", int32(1)), op.Mul(s.SubScope("k2"), c("k_two", int32(2)),
		op.Cast(s.SubScope("k_rgb"), op.GreaterEqual(s.SubScope("k_ge"), nc, c("three", int32(3))), tf.Int32)))
	sel := op.Slice(s.SubScope("channels"), op.Cast(s.SubScope("to_float"), dec, tf.Float), c("sel_begin", []int32{0, 0, 0}), op.Pack(s.SubScope("sel_size"), []tf.Output{c("m1a", int32(-1)), c("m1b", int32(-1)), k}))
	upright := orient(s.SubScope("orient"), sel, orientation)
	upright = s.AddOperation(tf.OpSpec{Type: "Identity", Name: GraphUpright, Input: []tf.Input{upright}}).Output(0)
	s.AddOperation(tf.OpSpec{Type: "Cast", Name: GraphDecoded, Input: []tf.Input{upright}, Attrs: map[string]any{"DstT": tf.Uint8}})

	x := resize(s.SubScope("resize"), upright, p.Size)
	// Gray to RGB: gather channel [0 0 0] of one channel, [0 1 2] of three.
	shape := op.Shape(s.SubScope("res_shape"), x, op.ShapeOutType(tf.Int32))
	last := op.Sub(s.SubScope("last"), op.Gather(s.SubScope("res_c"), shape, c("two_b", int32(2))), c("one_i", int32(1)))
	idx := op.Minimum(s.SubScope("idx"), c("rgb_idx", []int32{0, 1, 2}), last)
	rgb := op.GatherV2(s.SubScope("rgb"), x, idx, c("axis2", int32(2)))
	s.AddOperation(tf.OpSpec{Type: "Cast", Name: GraphPixels, Input: []tf.Input{rgb}, Attrs: map[string]any{"DstT": tf.Uint8}})
	scaled := scaleOps(s.SubScope("scaling"), rgb, p.Scaling)
	s.AddOperation(tf.OpSpec{Type: "Identity", Name: GraphOutput, Input: []tf.Input{scaled}})

	g, err := s.Finalize()
	if err != nil {
		return nil, fmt.Errorf("build the preprocessing graph: %v", err)
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("serialize the preprocessing graph: %w", err)
	}
	return buf.Bytes(), nil
}

// orient undoes EXIF orientation o on an [h, w, c] image: transpose for 5..8, then flips
// (orientation 6, "rotate 90 clockwise to view", is transpose + left-right flip).
func orient(s *op.Scope, img, o tf.Output) tf.Output {
	perm := op.Const(s.SubScope("perms"), [9][3]int32{{0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {1, 0, 2}, {1, 0, 2}, {1, 0, 2}, {1, 0, 2}})
	//                                    o:  0 (bad)      1      2 (lr)      3 (lr+ud)    4 (ud)       5        6 (lr)       7 (both)      8 (ud)
	flip := op.Const(s.SubScope("flips"), [9][3]bool{{}, {}, {false, true}, {true, true}, {true, false}, {}, {false, true}, {true, true}, {true, false}})
	o = op.ClipByValue(s.SubScope("clip"), o, op.Const(s.SubScope("lo"), int32(0)), op.Const(s.SubScope("hi"), int32(8)))
	t := op.Transpose(s.SubScope("transpose"), img, op.Gather(s.SubScope("perm"), perm, o))
	return op.Reverse(s.SubScope("flip"), t, op.Gather(s.SubScope("dims"), flip, o))
}

// resize is tf.image.resize(bilinear, antialias=True) of a float32 [h, w, c] image of
// whole numbers 0..255 to [size, size, c] (one ScaleAndTranslate with the triangle
// kernel), rounded half up to whole numbers again (floor(x+0.5), clipped to 0..255).
func resize(s *op.Scope, img tf.Output, size int) tf.Output {
	c := func(name string, v any) tf.Output { return op.Const(s.SubScope(name), v) }
	hw := op.StridedSlice(s.SubScope("hw"), op.Shape(s.SubScope("shape"), img, op.ShapeOutType(tf.Int32)), c("hw_b", []int32{0}), c("hw_e", []int32{2}), c("hw_s", []int32{1}))
	scale := op.Div(s.SubScope("scale"), c("target", []float32{float32(size), float32(size)}), op.Cast(s.SubScope("hw_float"), hw, tf.Float)) // [size/h, size/w]
	x := op.ExpandDims(s.SubScope("batch"), img, c("axis0", int32(0)))
	x = s.AddOperation(tf.OpSpec{
		Type: "ScaleAndTranslate", Name: "scale_and_translate",
		Input: []tf.Input{x, c("size", []int32{int32(size), int32(size)}), scale, c("zero2", []float32{0, 0})},
		Attrs: map[string]any{"kernel_type": "triangle", "antialias": true},
	}).Output(0)
	x = op.Floor(s.SubScope("round"), op.AddV2(s.SubScope("half_up"), x, c("half", float32(0.5))))
	x = op.ClipByValue(s.SubScope("clip"), x, c("lo", float32(0)), c("hi", float32(255)))
	return op.Squeeze(s.SubScope("unbatch"), x, op.SqueezeAxis([]int64{0}))
}

// scaleOps is Scaling.Apply op for op (float32 RealDiv, then Sub), so the scaled values
// are bit-identical to the Go side's for the same uint8 pixels.
func scaleOps(s *op.Scope, x tf.Output, scaling Scaling) tf.Output {
	if scaling == ImageNet {
		x = op.RealDiv(s.SubScope("div"), x, op.Const(s.SubScope("k127_5"), float32(127.5)))
		return op.Sub(s.SubScope("sub"), x, op.Const(s.SubScope("k1"), float32(1)))
	}
	return op.RealDiv(s.SubScope("div"), x, op.Const(s.SubScope("k255"), float32(255)))
}

// oneLine keeps the first line of a TensorFlow message (the rest names graph nodes).
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
