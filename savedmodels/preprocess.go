package savedmodels

import (
	"bytes"
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/tfgraph"
)

// Names inside the preprocessing function's body graph.
const (
	preprocessFunc   = "xray_preprocess_image"
	preprocessInput  = "contents"
	preprocessOutput = "pixels"
)

// preprocessBody builds, as a serialized GraphDef, the per-image preprocessing that
// serving_bytes runs inside the graph: one encoded file (a string scalar) in, float32
// [size, size, 3] out. It mirrors the Go preprocessing step for step:
//
//   - DecodeJpeg with channels=3 decodes JPEG and also PNG (and a GIF's first frame: the
//     kernel sniffs the format), turning grayscale into RGB by repeating the channel and
//     dropping alpha as preprocess.Decode does. dct_method INTEGER_ACCURATE is libjpeg's
//     islow IDCT, the closest to Go's image/jpeg: on the Kermany X-rays about 1.5 % of
//     the decoded values differ, by one level, against about 45 % by up to 5 levels with
//     TensorFlow's default fast IDCT (what DecodeImage would use). PNG decodes identically;
//   - the resize is imaging.Resize with the Linear filter, done as imaging does it:
//     horizontal pass, rounding to uint8, vertical pass, rounding to uint8. Each pass is
//     one ScaleAndTranslate with the triangle kernel and antialiasing, whose sample
//     positions, kernel widening on downscale and weight normalisation are imaging's;
//     rounding is half-up (floor(x+0.5)) like imaging's, not TensorFlow's half-to-even;
//   - the scaling to [0, 1] or [-1, 1], with preprocess.Scaling.Apply's float32 ops.
//
// A DICOM file fails with dicomMessage (notDICOM): Go decodes DICOM, the graph cannot.
//
// Where it cannot mirror Go: libjpeg-turbo and Go's image/jpeg still round differently
// here and there (one level), Go applies a JPEG's EXIF orientation and DecodeJpeg does
// not (X-ray files carry none), and DecodeJpeg also accepts GIF where Go refuses it.
func preprocessBody(p preprocess.Preprocessor) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	size := p.Size
	s := op.NewScope()
	c := func(name string, v any) tf.Output { return op.Const(s.SubScope(name), v) }

	contents := s.AddOperation(tf.OpSpec{Type: "Placeholder", Name: preprocessInput, Attrs: map[string]any{"dtype": tf.String, "shape": tf.ScalarShape()}}).Output(0)
	img := op.DecodeJpeg(s.WithControlDependencies(notDICOM(s, contents)).SubScope("decode"), contents, op.DecodeJpegChannels(3), op.DecodeJpegDctMethod("INTEGER_ACCURATE"))
	hw := op.StridedSlice(s.SubScope("hw"), op.Shape(s.SubScope("shape"), img), c("hw_begin", []int32{0}), c("hw_end", []int32{2}), c("hw_stride", []int32{1}))
	hwf := op.Cast(s.SubScope("hw_float"), hw, tf.Float)
	target := c("target", []float32{float32(size), float32(size)})
	factor := op.Div(s.SubScope("factor"), target, hwf) // [size/h, size/w]
	one := c("one", []float32{1})
	half := c("half", float32(0.5))
	zero2 := c("zero2", []float32{0, 0})

	// Go's imaging rounds to uint8 after each pass: floor(x + 0.5), clamped to [0, 255].
	round := func(name string, x tf.Output) tf.Output {
		ss := s.SubScope(name)
		r := op.Floor(ss, op.AddV2(ss, x, half))
		return op.ClipByValue(ss, r, op.Const(ss.SubScope("lo"), float32(0)), op.Const(ss.SubScope("hi"), float32(255)))
	}
	resize := func(name string, x, outSize, scale tf.Output) tf.Output {
		return s.AddOperation(tf.OpSpec{
			Type:  "ScaleAndTranslate",
			Name:  name,
			Input: []tf.Input{x, outSize, scale, zero2},
			Attrs: map[string]any{"kernel_type": "triangle", "antialias": true},
		}).Output(0)
	}
	slice1 := func(name string, x tf.Output, i int32) tf.Output {
		return op.StridedSlice(s.SubScope(name), x, c(name+"_b", []int32{i}), c(name+"_e", []int32{i + 1}), c(name+"_s", []int32{1}))
	}

	x := op.ExpandDims(s.SubScope("batch"), op.Cast(s.SubScope("float"), img, tf.Float), c("axis0", int32(0)))
	// Horizontal: [1, h, w, 3] -> [1, h, size, 3].
	sizeH := op.ConcatV2(s.SubScope("size_h"), []tf.Output{slice1("h", hw, 0), c("size1", []int32{int32(size)})}, c("axis_h", int32(0)))
	x = round("round_h", resize("resize_h", x, sizeH, op.ConcatV2(s.SubScope("scale_h"), []tf.Output{one, slice1("sx", factor, 1)}, c("axis_sh", int32(0)))))
	// Vertical: [1, h, size, 3] -> [1, size, size, 3].
	x = round("round_v", resize("resize_v", x, c("size_v", []int32{int32(size), int32(size)}), op.ConcatV2(s.SubScope("scale_v"), []tf.Output{slice1("sy", factor, 0), one}, c("axis_sv", int32(0)))))
	x = op.Reshape(s.SubScope("hwc"), x, c("shape_hwc", []int32{int32(size), int32(size), 3}))
	x = scale(s.SubScope("scaling"), x, p.Scaling)
	s.AddOperation(tf.OpSpec{Type: "Identity", Name: preprocessOutput, Input: []tf.Input{x}})

	g, err := s.Finalize()
	if err != nil {
		return nil, fmt.Errorf("build preprocessing graph: %w", tfgraph.CleanError(err))
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("serialize preprocessing graph: %w", err)
	}
	return buf.Bytes(), nil
}

// dicomMessage is the error serving_bytes gives for a DICOM file (TensorFlow has no DICOM
// decoder; package preprocess decodes DICOM in Go).
const dicomMessage = "serving_bytes takes JPEG or PNG file contents, and this is a DICOM file, which TensorFlow cannot decode: " +
	"send it to xray serve or xray predict, or to the Go API (PredictFile, PredictBytes), which decode DICOM in Go, or convert it to PNG"

// notDICOM asserts that contents is not a DICOM file ("DICM" at byte 128), so a DICOM
// file sent to serving_bytes fails with dicomMessage instead of DecodeJpeg's "unknown
// image format". The contents are padded first because Substr fails past the end.
func notDICOM(s *op.Scope, contents tf.Output) *tf.Operation {
	s = s.SubScope("dicom_check")
	padded := op.StringJoin(s.SubScope("pad"), []tf.Output{contents, op.Const(s.SubScope("zeros"), string(make([]byte, 132)))})
	marker := op.Substr(s.SubScope("marker"), padded, op.Const(s.SubScope("at"), int32(128)), op.Const(s.SubScope("len"), int32(4)))
	isDICOM := op.Equal(s.SubScope("is_dicom"), marker, op.Const(s.SubScope("dicm"), "DICM"))
	return op.Assert(s.SubScope("assert"), op.LogicalNot(s.SubScope("not"), isDICOM), []tf.Output{op.Const(s.SubScope("message"), dicomMessage)})
}

// scale mirrors preprocess.Scaling.Apply op for op (float32 RealDiv, then Sub), so the
// scaled values are bit-identical to the Go side's for the same uint8 pixels.
func scale(s *op.Scope, x tf.Output, scaling preprocess.Scaling) tf.Output {
	switch scaling {
	case preprocess.ImageNet:
		x = op.RealDiv(s.SubScope("div"), x, op.Const(s.SubScope("k127_5"), float32(127.5)))
		return op.Sub(s.SubScope("sub"), x, op.Const(s.SubScope("k1"), float32(1)))
	default:
		return op.RealDiv(s.SubScope("div"), x, op.Const(s.SubScope("k255"), float32(255)))
	}
}
