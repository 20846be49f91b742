package ensemble

import (
	"fmt"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	varpb "github.com/wamuir/graft/tensorflow/core/framework/variable_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"google.golang.org/protobuf/proto"
)

// member is one SavedModel of an ensemble as it sits in the combined graph: its
// MetaGraph's nodes renamed under prefix ("member0/"), its functions renamed with a
// suffix, and the names of the tensors the ensemble wires together.
type member struct {
	dir    string
	prefix string
	meta   savedmodels.Metadata
	def    *gpb.GraphDef // renamed copy of the member's GraphDef
	// Tensor names ("op:index") in the combined graph.
	bytes, image, pixels, probs, heatmap, gradClass string
	saver                                           *pb.SaverDef // renamed
	vars                                            []*varpb.VariableDef
	trainable                                       map[string]bool // by variable name
}

// renamedMember reads the MetaGraph mg of the member in dir and renames it under
// "member<i>/": every node, every reference to a node (inputs, colocation), every
// function (so two members' preprocessing functions, which differ by input size, do
// not clash), the signature tensors, the saver and the variables.
func renamedMember(i int, dir string, mg *pb.MetaGraphDef, meta savedmodels.Metadata) (*member, error) {
	mb := &member{dir: dir, prefix: fmt.Sprintf("member%d/", i), meta: meta, trainable: map[string]bool{}}
	def := proto.Clone(mg.GetGraphDef()).(*gpb.GraphDef)
	suffix := fmt.Sprintf("_member%d", i)
	renameFunctions(def, suffix)
	for _, n := range def.Node {
		n.Name = mb.prefix + n.Name
		for k, in := range n.Input {
			ctl := ""
			if strings.HasPrefix(in, "^") {
				ctl, in = "^", in[1:]
			}
			n.Input[k] = ctl + mb.prefix + in
		}
		// Resource variables are shared by shared_name within a session: the members'
		// same-named variables ("conv1/kernel") would otherwise be one.
		if sn := n.Attr["shared_name"]; n.Op == "VarHandleOp" && sn != nil && len(sn.GetS()) > 0 {
			sn.Value = &attrpb.AttrValue_S{S: []byte(mb.prefix + string(sn.GetS()))}
		}
		if c := n.Attr["_class"].GetList(); c != nil {
			for k, s := range c.S {
				if loc, ok := strings.CutPrefix(string(s), "loc:@"); ok {
					c.S[k] = []byte("loc:@" + mb.prefix + loc)
				}
			}
		}
	}
	mb.def = def
	sig, grad := mg.SignatureDef[savedmodels.SignatureDefault], mg.SignatureDef[savedmodels.SignatureGradCAM]
	if grad == nil || grad.Outputs[savedmodels.OutputHeatmap] == nil {
		return nil, fmt.Errorf("%s: %w", dir, savedmodels.ErrNoGradCAM)
	}
	mb.image = mb.prefix + sig.Inputs[savedmodels.InputImage].GetName()
	mb.probs = mb.prefix + sig.Outputs[savedmodels.OutputProbabilities].GetName()
	mb.bytes = mb.prefix + grad.Inputs[savedmodels.InputImageBytes].GetName()
	mb.heatmap = mb.prefix + grad.Outputs[savedmodels.OutputHeatmap].GetName()
	mb.gradClass = mb.prefix + smgraph.GradCAMClassOp + ":0"
	if err := mb.findPixels(); err != nil {
		return nil, err
	}
	sv := mg.GetSaverDef()
	if sv == nil {
		return nil, fmt.Errorf("%s: the SavedModel has no saver: export it again", dir)
	}
	mb.saver = &pb.SaverDef{FilenameTensorName: mb.prefix + sv.FilenameTensorName, RestoreOpName: mb.prefix + sv.RestoreOpName}
	return mb, mb.renameVariables(mg)
}

// findPixels finds the preprocessed bytes tensor the member's image input defaults to
// (its MapDefun), which the ensemble routes through its own input instead.
func (mb *member) findPixels() error {
	name, _, _ := smgraph.ParseTensorName(mb.image)
	for _, n := range mb.def.Node {
		if n.Name == name && n.Op == "PlaceholderWithDefault" && len(n.Input) == 1 {
			mb.pixels = n.Input[0]
			if !strings.Contains(mb.pixels, ":") {
				mb.pixels += ":0"
			}
			return nil
		}
	}
	return fmt.Errorf("%s: the image input is not a PlaceholderWithDefault over the in-graph preprocessing: export it again", mb.dir)
}

// renameVariables copies the member's VariableDefs with their names under the prefix.
func (mb *member) renameVariables(mg *pb.MetaGraphDef) error {
	trainable := map[string]bool{}
	for _, b := range mg.CollectionDef["trainable_variables"].GetBytesList().GetValue() {
		v := new(varpb.VariableDef)
		if proto.Unmarshal(b, v) == nil {
			trainable[v.VariableName] = true
		}
	}
	for _, b := range mg.CollectionDef["variables"].GetBytesList().GetValue() {
		v := new(varpb.VariableDef)
		if err := proto.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: damaged variables collection: %w", mb.dir, err)
		}
		t := trainable[v.VariableName]
		for _, s := range []*string{&v.VariableName, &v.InitialValueName, &v.InitializerName, &v.SnapshotName} {
			if *s != "" {
				*s = mb.prefix + *s
			}
		}
		v.Trainable = t
		mb.vars = append(mb.vars, v)
	}
	if len(mb.vars) == 0 {
		return fmt.Errorf("%s: the SavedModel lists no variables: export it again", mb.dir)
	}
	return nil
}

// renameFunctions appends suffix to every function of def's library and to every
// reference to one (func attributes of nodes, in the graph and inside functions).
func renameFunctions(def *gpb.GraphDef, suffix string) {
	lib := def.GetLibrary()
	if lib == nil {
		return
	}
	names := map[string]bool{}
	for _, f := range lib.Function {
		names[f.Signature.Name] = true
	}
	fix := func(a *attrpb.AttrValue) {
		if f := a.GetFunc(); f != nil && names[f.Name] {
			f.Name += suffix
		}
		for _, f := range a.GetList().GetFunc() {
			if names[f.Name] {
				f.Name += suffix
			}
		}
	}
	for _, n := range def.Node {
		for _, a := range n.Attr {
			fix(a)
		}
	}
	for _, f := range lib.Function {
		f.Signature.Name += suffix
		for _, n := range f.NodeDef {
			for _, a := range n.Attr {
				fix(a)
			}
		}
	}
	for _, g := range lib.Gradient {
		if names[g.FunctionName] {
			g.FunctionName += suffix
		}
		if names[g.GradientFunc] {
			g.GradientFunc += suffix
		}
	}
}

// splice appends the nodes of fragment, a graph built apart, to def: its placeholders
// named in external stand for the tensors of def they map to ("op:index"), so they are
// dropped and every reference to them points at that tensor.
func splice(def *gpb.GraphDef, fragment *tf.Graph, external map[string]string) error {
	frag, err := smgraph.GraphDef(fragment)
	if err != nil {
		return err
	}
	for _, n := range frag.Node {
		if _, ok := external[n.Name]; ok {
			continue
		}
		for k, in := range n.Input {
			ctl, src := "", in
			if strings.HasPrefix(src, "^") {
				ctl, src = "^", src[1:]
			}
			name, idx, err := smgraph.ParseTensorName(src)
			if err != nil {
				return err
			}
			if to, ok := external[name]; ok {
				if idx != 0 {
					return fmt.Errorf("splice: %s reads output %d of a stand-in", n.Name, idx)
				}
				if ctl != "" {
					to, _, _ = smgraph.ParseTensorName(to)
				}
				n.Input[k] = ctl + to
			}
		}
		def.Node = append(def.Node, n)
	}
	if frag.Library != nil && len(frag.Library.Function) > 0 {
		if def.Library == nil {
			def.Library = new(fnpb.FunctionDefLibrary)
		}
		def.Library.Function = append(def.Library.Function, frag.Library.Function...)
	}
	return nil
}

// rewire points node name's data inputs at the given tensors, and makes it op with attrs
// when op is not "".
func rewire(def *gpb.GraphDef, name, op string, attrs map[string]*attrpb.AttrValue, inputs ...string) error {
	for _, n := range def.Node {
		if n.Name == name {
			var ctl []string
			for _, in := range n.Input {
				if strings.HasPrefix(in, "^") {
					ctl = append(ctl, in)
				}
			}
			n.Input = append(append([]string(nil), inputs...), ctl...)
			if op != "" {
				n.Op, n.Attr = op, attrs
			}
			return nil
		}
	}
	return fmt.Errorf("no op %q to rewire", name)
}

// identityAttrs are an Identity's attributes for dtype t.
func identityAttrs(t typespb.DataType) map[string]*attrpb.AttrValue {
	return map[string]*attrpb.AttrValue{"T": smgraph.TypeAttr(t)}
}
