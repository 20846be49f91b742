package export

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"google.golang.org/protobuf/proto"
)

// preprocessFunc names the serving_bytes preprocessing function in the SavedModel.
const preprocessFunc = "xray_preprocess_image"

// preprocessBody is the per-image preprocessing that serving_bytes runs inside the graph:
// preprocess.Preprocessor's own GraphDef (one encoded file in, float32 [size, size, 3]
// out), the graph that training, Predict and PredictBytes run in-process, so serving_bytes
// gives the same bits. Its orientation input keeps its default: serving_bytes cannot read
// EXIF, and leaves an EXIF-rotated file as stored (X-ray files carry no rotation). Unlike
// preprocess, which checks the magic bytes first, DecodeJpeg also takes GIF and BMP.
// The decoder gets a control input that fails a DICOM file with dicomMessage (notDICOM):
// Go decodes DICOM, the graph cannot.
func preprocessBody(p preprocess.Preprocessor) ([]byte, error) {
	body, err := p.GraphDef()
	if err != nil {
		return nil, err
	}
	def := new(gpb.GraphDef)
	if err := proto.Unmarshal(body, def); err != nil {
		return nil, fmt.Errorf("parse the preprocessing graph: %w", err)
	}
	s := op.NewScope()
	contents := s.AddOperation(tf.OpSpec{Type: "Placeholder", Name: preprocess.GraphInput, Attrs: map[string]any{"dtype": tf.String, "shape": tf.ScalarShape()}}).Output(0)
	guard := notDICOM(s, contents)
	g, err := s.Finalize()
	if err != nil {
		return nil, fmt.Errorf("build the DICOM check: %w", err)
	}
	check, err := smgraph.GraphDef(g)
	if err != nil {
		return nil, err
	}
	for _, n := range check.Node {
		if n.Name != preprocess.GraphInput {
			def.Node = append(def.Node, n)
		}
	}
	decoders := 0
	for _, n := range def.Node {
		if n.Op == "DecodeJpeg" {
			n.Input = append(n.Input, "^"+guard.Name())
			decoders++
		}
	}
	if decoders != 1 {
		return nil, fmt.Errorf("the preprocessing graph has %d DecodeJpeg ops, want 1", decoders)
	}
	return proto.Marshal(def)
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
