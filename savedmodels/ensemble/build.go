package ensemble

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	varpb "github.com/wamuir/graft/tensorflow/core/framework/variable_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/tflog"
	"github.com/xraylab/xray/preprocess"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"github.com/xraylab/xray/tfgraph"
	"google.golang.org/protobuf/proto"
)

// Names of the ensemble's own ops (the members' live under member<i>/).
const (
	ensembleScope    = "ensemble"
	ensembleImageOp  = "image"
	ensembleProbsOp  = ensembleScope + "/probabilities"
	ensembleHeatOp   = ensembleScope + "/heatmap"
	standInPrefix    = "xray_stand_in_"
	ensembleSaverDir = "variables"
)

// ensembleGraph is the combined graph, live, with the ensemble's signature tensors.
type ensembleGraph struct {
	graph                                 *tf.Graph
	image, bytes, probs, classID, heatmap tf.Output
	saver                                 *smgraph.Saver
	vars                                  []*varpb.VariableDef
	mg                                    *pb.MetaGraphDef // set by write
}

// fragment is the ensemble's own ops, built in a graph of their own whose placeholders
// stand in for the members' tensors (see splice).
type fragment struct {
	s        *op.Scope
	external map[string]string // stand-in op -> member tensor
	// Per member: the tensors its image input and its Grad-CAM class input now read.
	inputs, classes []string
}

// standIn is a placeholder for the member tensor name.
func (f *fragment) standIn(name string, dtype tf.DataType, shape ...int64) tf.Output {
	n := fmt.Sprintf("%s%d", standInPrefix, len(f.external))
	f.external[n] = name
	return f.s.AddOperation(tf.OpSpec{Type: "Placeholder", Name: n, Attrs: map[string]any{"dtype": dtype, "shape": tf.MakeShape(shape...)}}).Output(0)
}

// buildEnsemble combines the renamed members into one graph: the shared inputs, each
// member's input (its own preprocessing of image_bytes, or the pixels of image resized
// and rescaled to its own), the views, the weighted means, class_id, the Grad-CAM class,
// and a saver over every member's variables.
func buildEnsemble(mbs []*member, weights []float64, meta savedmodels.Metadata) (*ensembleGraph, error) {
	def := &gpb.GraphDef{Versions: mbs[0].def.Versions, Library: new(fnpb.FunctionDefLibrary)}
	for _, mb := range mbs {
		def.Node = append(def.Node, mb.def.Node...)
		def.Library.Function = append(def.Library.Function, mb.def.GetLibrary().GetFunction()...)
		def.Library.Gradient = append(def.Library.Gradient, mb.def.GetLibrary().GetGradient()...)
	}
	f := &fragment{s: op.NewScope(), external: map[string]string{}}
	if err := f.build(mbs, weights, meta); err != nil {
		return nil, err
	}
	g, err := f.s.Finalize()
	if err != nil {
		return nil, err
	}
	if err := splice(def, g, f.external); err != nil {
		return nil, err
	}
	node := func(t string) string { n, _, _ := smgraph.ParseTensorName(t); return n }
	for i, mb := range mbs {
		if err := rewire(def, node(mb.bytes), "Identity", identityAttrs(typespb.DataType_DT_STRING), savedmodels.InputImageBytes); err != nil {
			return nil, err
		}
		if err := rewire(def, node(mb.image), "", nil, f.inputs[i]); err != nil {
			return nil, err
		}
		if err := rewire(def, node(mb.gradClass), "", nil, f.classes[i]); err != nil {
			return nil, err
		}
	}
	return importEnsemble(def, mbs)
}

// build adds the ensemble's ops to f.
func (f *fragment) build(mbs []*member, weights []float64, meta savedmodels.Metadata) error {
	s, size, views := f.s, int64(meta.InputSize), max(meta.TTA, 1)
	classes := int64(len(meta.Classes))
	// Each signature feeds one input; the other defaults to an empty batch, so the
	// members' inputs (files' pixels, then image's) hold just the fed images.
	s.AddOperation(tf.OpSpec{Type: "PlaceholderWithDefault", Name: savedmodels.InputImageBytes, Input: []tf.Input{op.Const(s.SubScope("no_files"), []string{})},
		Attrs: map[string]any{"dtype": tf.String, "shape": tf.MakeShape(-1)}})
	none := op.Fill(s.SubScope("no_pixels"), op.Const(s.SubScope("no_pixels_shape"), []int32{0, int32(size), int32(size), 3}), op.Const(s.SubScope("zero"), float32(0)))
	image := s.AddOperation(tf.OpSpec{Type: "PlaceholderWithDefault", Name: ensembleImageOp, Input: []tf.Input{none},
		Attrs: map[string]any{"dtype": tf.Float, "shape": tf.MakeShape(-1, size, size, 3)}}).Output(0)
	es := s.SubScope(ensembleScope)
	var probs, heats []tf.Output
	for i, mb := range mbs {
		ms := es.SubScope(fmt.Sprintf("member%d", i))
		ms2 := int64(mb.meta.InputSize)
		x := image
		if ms2 != size {
			x = op.ResizeBilinear(ms.SubScope("resize"), x, op.Const(ms.SubScope("size"), []int32{int32(ms2), int32(ms2)}), op.ResizeBilinearHalfPixelCenters(true))
		}
		x = rescale(ms.SubScope("rescale"), x, meta.Preprocessing, mb.meta.Preprocessing)
		files := f.standIn(mb.pixels, tf.Float, -1, ms2, ms2, 3)
		x = op.Concat(ms.SubScope("input"), op.Const(ms.SubScope("axis"), int32(0)), []tf.Output{files, x})
		f.inputs = append(f.inputs, smgraph.TensorName(ttaViews(ms, x, views, int(ms2))))
		w := op.Const(ms.SubScope("weight"), float32(weights[i]))
		p := ttaMean(ms.SubScope("views_mean"), f.standIn(mb.probs, tf.Float, -1, classes), views, classes)
		probs = append(probs, op.Mul(ms.SubScope("weighted"), p, w))
		h := ttaFirst(ms.SubScope("view0"), f.standIn(mb.heatmap, tf.Float, -1, ms2, ms2), views, ms2, ms2)
		if ms2 != size {
			hs := ms.SubScope("heatmap_resize")
			h4 := op.ExpandDims(hs, h, op.Const(hs.SubScope("axis"), int32(3)))
			h4 = op.ResizeBilinear(hs, h4, op.Const(hs.SubScope("size"), []int32{int32(size), int32(size)}), op.ResizeBilinearHalfPixelCenters(true))
			h = op.Squeeze(hs, h4, op.SqueezeAxis([]int64{3}))
		}
		heats = append(heats, op.Mul(ms.SubScope("heatmap_weighted"), h, w))
	}
	p := s.AddOperation(tf.OpSpec{Type: "Identity", Name: ensembleProbsOp, Input: []tf.Input{op.AddN(es.SubScope("sum"), probs)}}).Output(0)
	classID := s.AddOperation(tf.OpSpec{Type: "ArgMax", Name: smgraph.ClassIDOp,
		Input: []tf.Input{p, op.Const(s.SubScope("serving").SubScope("class_axis"), int32(1))},
		Attrs: map[string]any{"output_type": tf.Int64}}).Output(0)
	gc := op.PlaceholderWithDefault(s.SubScope(smgraph.GradCAMScope).SubScope("class"), classID, tf.MakeShape(-1))
	for i := range mbs {
		c := gc
		if views > 1 {
			cs := es.SubScope(fmt.Sprintf("member%d", i)).SubScope("gradcam_class")
			c = op.Tile(cs, gc, op.Const(cs.SubScope("views"), []int32{int32(views)}))
		}
		f.classes = append(f.classes, smgraph.TensorName(c))
	}
	// Weights summing to 1 in float64 may sum past 1 in float32: keep the heatmap in [0, 1].
	hs := es.SubScope("heatmap_sum")
	h := op.ClipByValue(hs, op.AddN(hs, heats), op.Const(hs.SubScope("lo"), float32(0)), op.Const(hs.SubScope("hi"), float32(1)))
	s.AddOperation(tf.OpSpec{Type: "Identity", Name: ensembleHeatOp, Input: []tf.Input{h}})
	if name := gc.Op.Name(); name != smgraph.GradCAMClassOp {
		return fmt.Errorf("grad-cam: class input named %s, savedmodels.Load looks for %s", name, smgraph.GradCAMClassOp)
	}
	return s.Err()
}

// rescale maps pixels scaled by from to the scaling to (package preprocess: unit is
// v/255, imagenet v/127.5-1).
func rescale(s *op.Scope, x tf.Output, from, to preprocess.Scaling) tf.Output {
	switch {
	case from == to:
		return x
	case to == preprocess.ImageNet: // 2u - 1
		return op.Sub(s, op.Mul(s, x, op.Const(s.SubScope("two"), float32(2))), op.Const(s.SubScope("one"), float32(1)))
	default: // (i + 1) / 2
		return op.Mul(s, op.Add(s, x, op.Const(s.SubScope("one"), float32(1))), op.Const(s.SubScope("half"), float32(0.5)))
	}
}

// importEnsemble imports the combined def into a new graph and adds a saver over every
// member's variables, keyed by their names in it ("member0/conv1/kernel").
func importEnsemble(def *gpb.GraphDef, mbs []*member) (*ensembleGraph, error) {
	g := tf.NewGraph()
	b, err := proto.Marshal(def)
	if err != nil {
		return nil, err
	}
	if err := g.Import(b, ""); err != nil {
		return nil, fmt.Errorf("import the combined graph: %w", err)
	}
	e := &ensembleGraph{graph: g}
	for _, x := range []struct {
		dst  *tf.Output
		name string
	}{{&e.image, ensembleImageOp}, {&e.bytes, savedmodels.InputImageBytes}, {&e.probs, ensembleProbsOp}, {&e.classID, smgraph.ClassIDOp}, {&e.heatmap, ensembleHeatOp}} {
		if *x.dst, err = smgraph.TensorByName(g, x.name); err != nil {
			return nil, err
		}
	}
	var vars []*tfgraph.Variable
	var handles []tf.Output
	for _, mb := range mbs {
		for _, v := range mb.vars {
			h, err := smgraph.TensorByName(g, v.VariableName)
			if err != nil {
				return nil, err
			}
			if dt, err := h.Op.Attr("dtype"); err != nil || dt != tf.Float {
				return nil, fmt.Errorf("variable %s is not float32", v.VariableName)
			}
			vars = append(vars, &tfgraph.Variable{Name: strings.TrimSuffix(v.VariableName, ":0")})
			handles = append(handles, h)
			e.vars = append(e.vars, v)
		}
	}
	if e.saver, err = smgraph.AddSaver(op.NewScopeWithGraph(g).SubScope("save"), vars, handles); err != nil {
		return nil, err
	}
	return e, nil
}

// write restores every member's variables in a session of the combined graph, has SaveV2
// write them to dir/variables/variables.*, and writes saved_model.pb and the metadata.
func (e *ensembleGraph) write(dir string, mbs []*member, meta savedmodels.Metadata) error {
	tflog.Once(nil) // as Load does: a library user sees no TensorFlow start-up lines
	sess, err := tf.NewSession(e.graph, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := restoreMembers(e.graph, sess, mbs); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, ensembleSaverDir), 0o755); err != nil {
		return err
	}
	prefix, err := tf.NewTensor(filepath.Join(dir, ensembleSaverDir, "variables"))
	if err != nil {
		return err
	}
	if _, err := sess.Run(map[tf.Output]*tf.Tensor{e.saver.Filename: prefix}, []tf.Output{e.saver.SaveTensor}, nil); err != nil {
		return fmt.Errorf("save variables: %s", smgraph.OneLine(err.Error()))
	}
	if e.mg, err = e.metaGraph(meta); err != nil {
		return err
	}
	return smgraph.WriteMetaGraph(dir, e.mg, meta)
}

// writeMeta writes the MetaGraph again with new metadata (a chosen threshold).
func (e *ensembleGraph) writeMeta(dir string, meta savedmodels.Metadata) error {
	e.mg.MetaInfoDef.MetaGraphVersion = meta.Summary()
	return smgraph.WriteMetaGraph(dir, e.mg, meta)
}

// metaGraph is the serving MetaGraph: the combined graph pruned to the signatures, the
// saver and the variables, the three signatures and the variables' collections.
func (e *ensembleGraph) metaGraph(meta savedmodels.Metadata) (*pb.MetaGraphDef, error) {
	full, err := smgraph.GraphDef(e.graph)
	if err != nil {
		return nil, err
	}
	roots := []string{e.image.Op.Name(), e.bytes.Op.Name(), e.probs.Op.Name(), e.classID.Op.Name(), e.heatmap.Op.Name(),
		smgraph.GradCAMClassOp, e.saver.SaveTensor.Op.Name(), e.saver.Restore.Name()}
	var all, trainable [][]byte
	for _, v := range e.vars {
		for _, t := range []string{v.VariableName, v.InitialValueName, v.InitializerName, v.SnapshotName} {
			if t != "" {
				n, _, _ := smgraph.ParseTensorName(t)
				roots = append(roots, n)
			}
		}
		b, err := proto.Marshal(v)
		if err != nil {
			return nil, err
		}
		all = append(all, b)
		if v.Trainable {
			trainable = append(trainable, b)
		}
	}
	gdef, err := smgraph.Prune(full, roots)
	if err != nil {
		return nil, err
	}
	cols := map[string]*pb.CollectionDef{"variables": smgraph.BytesCollection(all)}
	if len(trainable) > 0 {
		cols["trainable_variables"] = smgraph.BytesCollection(trainable)
	}
	size := int64(meta.InputSize)
	sig := func(in tf.Output, key string, dtype typespb.DataType, shape ...int64) *pb.SignatureDef {
		return &pb.SignatureDef{
			Inputs: map[string]*pb.TensorInfo{key: smgraph.TensorInfo(in, dtype, smgraph.ShapeProto(shape...))},
			Outputs: map[string]*pb.TensorInfo{
				savedmodels.OutputProbabilities: smgraph.TensorInfo(e.probs, typespb.DataType_DT_FLOAT, smgraph.ShapeProto(-1, int64(len(meta.Classes)))),
				savedmodels.OutputClassID:       smgraph.TensorInfo(e.classID, typespb.DataType_DT_INT64, smgraph.ShapeProto(-1)),
			},
			//lint:ignore SA1019 as export.go: TensorFlow Serving before 2.4 checks it.
			MethodName: smgraph.PredictMethod,
		}
	}
	grad := sig(e.bytes, savedmodels.InputImageBytes, typespb.DataType_DT_STRING, -1)
	grad.Outputs[savedmodels.OutputHeatmap] = smgraph.TensorInfo(e.heatmap, typespb.DataType_DT_FLOAT, smgraph.ShapeProto(-1, size, size))
	return &pb.MetaGraphDef{
		MetaInfoDef: &pb.MetaGraphDef_MetaInfoDef{MetaGraphVersion: meta.Summary(), Tags: []string{savedmodels.ServeTag}, TensorflowVersion: meta.TFVersion},
		GraphDef:    gdef,
		SaverDef:    e.saver.Def(),
		SignatureDef: map[string]*pb.SignatureDef{
			savedmodels.SignatureDefault: sig(e.image, savedmodels.InputImage, typespb.DataType_DT_FLOAT, -1, size, size, 3),
			savedmodels.SignatureBytes:   sig(e.bytes, savedmodels.InputImageBytes, typespb.DataType_DT_STRING, -1),
			savedmodels.SignatureGradCAM: grad,
		},
		CollectionDef: cols,
	}, nil
}
