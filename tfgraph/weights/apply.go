package weights

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/xraylab/xray/tfgraph"
)

// Mode says which variables a file must cover.
type Mode string

// Modes.
const (
	// ModeAuto takes the backbone when the file holds exactly the backbone (an ImageNet
	// "no top" file), the whole model when it holds backbone and head.
	ModeAuto Mode = ""
	// ModeBase sets the backbone only; the head keeps its initial values. Every layer
	// of the file must be a backbone layer.
	ModeBase Mode = "base"
	// ModeFull sets every variable: a Keras-trained model, base and head.
	ModeFull Mode = "full"
)

// Options tune Apply.
type Options struct {
	Mode Mode
	// Model names the target in messages, e.g. "mobilenet"; optional.
	Model string
}

// Report says what Apply assigned.
type Report struct {
	File    string // base name of the file
	Layout  Layout
	Mode    Mode // ModeBase or ModeFull, as applied
	Layers  int  // layers assigned
	Tensors int  // variables assigned
	Params  int64
	// Renamed lists layers matched by order and shape because Keras named them
	// automatically and differently ("dense_7 -> dense").
	Renamed []string
	// Untouched lists the variables left at their initial values (the head in ModeBase).
	Untouched []string
}

func (r *Report) String() string {
	s := fmt.Sprintf("%s (%s): %d layers, %d tensors, %d parameters onto the %s", r.File, r.Layout, r.Layers, r.Tensors, r.Params, map[Mode]string{ModeBase: "backbone", ModeFull: "whole model"}[r.Mode])
	if len(r.Untouched) > 0 {
		s += fmt.Sprintf("; %d head variables keep their initial values", len(r.Untouched))
	}
	return s
}

// Load opens path and applies it to the model's variables; mode as in Options.
func Load(sess *tf.Session, m *tfgraph.Model, path string, mode Mode) (*Report, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	return Apply(sess, m.Variables, f, Options{Mode: mode, Model: m.Config.Arch})
}

// Apply assigns the file's tensors to vars (a model's Variables, in Keras weight order)
// in one session run. Layers pair by name; layers Keras names automatically (dense_7,
// batch_normalization_94, conv2d_3), whose numbers depend on what else the Python
// session built, pair by order among layers of their kind, and every pair must agree in
// weight count and shapes. Any mismatch is an error naming the first offenders, and
// then nothing is assigned: a partial load never happens.
func Apply(sess *tf.Session, vars []*tfgraph.Variable, f *File, opts Options) (*Report, error) {
	p, err := plan(vars, f, opts)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Report, error) {
		return nil, fmt.Errorf("load weights %s: %w", filepath.Base(f.Path), err)
	}
	values := make(map[string]*tf.Tensor)
	rep := &Report{File: filepath.Base(f.Path), Layout: f.Layout, Mode: p.mode}
	for _, pr := range p.pairs {
		for i, v := range pr.g.vars {
			t, err := newTensor(pr.f.Tensors[i])
			if err != nil {
				return fail(fmt.Errorf("layer %s: %s: %w", pr.g.name, v.Weight, err))
			}
			values[v.Name] = t
			rep.Tensors++
			rep.Params += v.NumElements()
		}
		rep.Layers++
		if pr.g.name != pr.f.Name {
			rep.Renamed = append(rep.Renamed, pr.f.Name+" -> "+pr.g.name)
		}
	}
	for _, v := range vars {
		if _, ok := values[v.Name]; !ok {
			rep.Untouched = append(rep.Untouched, v.Name)
		}
	}
	if err := tfgraph.SetValues(sess, vars, values); err != nil {
		return fail(err)
	}
	return rep, nil
}

// planned is a complete, checked pairing of model layers with file layers.
type planned struct {
	*matching
	mode Mode
}

// plan pairs vars' layers with f's layers in opts.Mode and checks every pair; the error
// lists the first offenders.
func plan(vars []*tfgraph.Variable, f *File, opts Options) (*planned, error) {
	fail := func(err error) (*planned, error) {
		return nil, fmt.Errorf("load weights %s: %w", filepath.Base(f.Path), err)
	}
	all := groupLayers(vars)
	var base []*goLayer
	for _, l := range all {
		if !l.head {
			base = append(base, l)
		}
	}
	target := opts.Model
	if target == "" {
		target = "the model"
	}
	var m *matching
	mode := opts.Mode
	switch mode {
	case ModeBase:
		m = match(base, f.Layers)
	case ModeFull:
		m = match(all, f.Layers)
	case ModeAuto:
		// A file holding just the backbone (ImageNet) sets the backbone; one with more
		// layers must be the whole model.
		mb := match(base, f.Layers)
		if mb.ok() || len(base) == len(all) || len(f.Layers) <= len(base) {
			m, mode = mb, ModeBase
		} else {
			m, mode = match(all, f.Layers), ModeFull
		}
	default:
		return fail(fmt.Errorf("unknown mode %q (want %q or %q)", opts.Mode, ModeBase, ModeFull))
	}
	if !m.ok() {
		what := map[Mode]string{ModeBase: "backbone of " + target, ModeFull: target}[mode]
		return fail(fmt.Errorf("does not fit the %s: %s", what, m.describe(len(f.Layers))))
	}
	return &planned{matching: m, mode: mode}, nil
}

// newTensor makes a TensorFlow tensor of t's shape and values.
func newTensor(t Tensor) (*tf.Tensor, error) {
	x, err := tf.NewTensor(t.Data)
	if err != nil {
		return nil, err
	}
	if err := x.Reshape(t.Shape); err != nil {
		return nil, err
	}
	return x, nil
}

// goLayer is one layer of the Go model with its variables in Keras weight order.
type goLayer struct {
	name string
	head bool
	vars []*tfgraph.Variable
}

func groupLayers(vars []*tfgraph.Variable) []*goLayer {
	var out []*goLayer
	byName := map[string]*goLayer{}
	for _, v := range vars {
		l := byName[v.Layer]
		if l == nil {
			l = &goLayer{name: v.Layer, head: v.Head}
			byName[v.Layer] = l
			out = append(out, l)
		}
		l.vars = append(l.vars, v)
	}
	return out
}

// autoKinds maps the stems of Keras's automatic layer names (Keras 2/3, and Keras 1's
// spellings) to one kind per weighted layer class.
var autoKinds = map[string]string{
	"conv2d": "conv2d", "convolution2d": "conv2d",
	"depthwise_conv2d": "depthwise_conv2d",
	"separable_conv2d": "separable_conv2d", "separableconvolution2d": "separable_conv2d",
	"batch_normalization": "batch_normalization", "batchnormalization": "batch_normalization",
	"dense": "dense",
}

var reAutoName = regexp.MustCompile(`^([a-z0-9_]+?)(?:_\d+)?$`)

// autoKind is the kind of an automatically named layer ("batch_normalization_94" ->
// "batch_normalization"), or "" for a layer named by its architecture ("conv_dw_3").
func autoKind(name string) string {
	m := reAutoName.FindStringSubmatch(name)
	if m == nil {
		return ""
	}
	return autoKinds[m[1]]
}

type pair struct {
	g *goLayer
	f *Layer
}

// matching is the outcome of pairing model layers with file layers.
type matching struct {
	pairs    []pair
	missing  []string // model layers the file lacks
	extra    []string // file layers the model lacks
	problems []string // paired layers whose weights differ
	byName   int      // pairs found by name
}

func (m *matching) ok() bool {
	return len(m.missing) == 0 && len(m.extra) == 0 && len(m.problems) == 0
}

// describe is the one-line reason a matching failed, first offenders first.
func (m *matching) describe(fileLayers int) string {
	var parts []string
	if len(m.problems) > 0 {
		parts = append(parts, strings.Join(firstFew(m.problems, 3), "; "))
	}
	if len(m.missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d layers missing from the file (%s)", len(m.missing), strings.Join(firstFew(m.missing, 5), ", ")))
	}
	if len(m.extra) > 0 {
		parts = append(parts, fmt.Sprintf("%d layers in the file not in the model (%s)", len(m.extra), strings.Join(firstFew(m.extra, 5), ", ")))
	}
	s := strings.Join(parts, "; ")
	if m.byName == 0 && fileLayers > 0 && len(m.missing) > 0 {
		s += " — is it a weight file of another architecture?"
	}
	return s
}

func firstFew(xs []string, n int) []string {
	if len(xs) <= n {
		return xs
	}
	return append(append([]string(nil), xs[:n]...), fmt.Sprintf("... %d more", len(xs)-n))
}

// match pairs the model's layers with the file's: architecture-named layers by name,
// automatically named ones by order within their kind; then checks every pair's weights.
func match(model []*goLayer, file []Layer) *matching {
	m := &matching{}
	fileByName := map[string]*Layer{}
	fileQueue := map[string][]*Layer{}
	for i := range file {
		l := &file[i]
		if k := autoKind(l.Name); k != "" {
			fileQueue[k] = append(fileQueue[k], l)
		} else {
			fileByName[l.Name] = l
		}
	}
	for k := range fileQueue {
		q := fileQueue[k]
		// Stable insertion sort by creation order (queues are short).
		for i := 1; i < len(q); i++ {
			for j := i; j > 0 && q[j].order < q[j-1].order; j-- {
				q[j], q[j-1] = q[j-1], q[j]
			}
		}
	}
	used := map[*Layer]bool{}
	for _, g := range model {
		var fl *Layer
		if k := autoKind(g.name); k != "" {
			if q := fileQueue[k]; len(q) > 0 {
				fl, fileQueue[k] = q[0], q[1:]
			}
		} else if l, ok := fileByName[g.name]; ok {
			fl = l
			m.byName++
		}
		if fl == nil {
			m.missing = append(m.missing, g.name)
			continue
		}
		used[fl] = true
		m.pairs = append(m.pairs, pair{g, fl})
		if p := checkPair(g, fl); p != "" {
			m.problems = append(m.problems, p)
		}
	}
	for i := range file {
		if !used[&file[i]] {
			m.extra = append(m.extra, file[i].Name)
		}
	}
	return m
}

// checkPair compares one layer's weights: count, then each shape and (where the file
// names them) name, in order — the order Keras itself loads them in.
func checkPair(g *goLayer, f *Layer) string {
	label := "layer " + g.name
	if f.Name != g.name {
		label += " (" + f.Name + " in the file)"
	}
	if len(f.Tensors) != len(g.vars) {
		return fmt.Sprintf("%s: %d weights in the file (%s) != %d in the model (%s)", label,
			len(f.Tensors), strings.Join(tensorNames(f), ", "), len(g.vars), strings.Join(varNames(g), ", "))
	}
	for i, v := range g.vars {
		t := f.Tensors[i]
		if t.Weight != "" && !sameWeight(t.Weight, v.Weight) {
			return fmt.Sprintf("%s: weight %d is %s in the file, %s in the model", label, i, t.Weight, v.Weight)
		}
		if !slices.Equal(t.Shape, v.Shape) {
			return fmt.Sprintf("%s: %s shape %v != %v", label, v.Weight, t.Shape, v.Shape)
		}
	}
	return ""
}

// knownWeights are Keras 2/3 weight names; a file weight name outside them (Keras 1's
// "conv1_W") is not compared, and order and shape decide.
var knownWeights = map[string]bool{
	"kernel": true, "bias": true, "depthwise_kernel": true, "pointwise_kernel": true,
	"gamma": true, "beta": true, "moving_mean": true, "moving_variance": true,
}

func sameWeight(file, model string) bool {
	if file == model || !knownWeights[file] {
		return true
	}
	// Keras 3 calls DepthwiseConv2D's weight "kernel", Keras 2 "depthwise_kernel".
	return (file == "kernel" && model == "depthwise_kernel") || (file == "depthwise_kernel" && model == "kernel")
}

func tensorNames(f *Layer) []string {
	out := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		out[i] = t.Weight
		if out[i] == "" {
			out[i] = fmt.Sprint(t.Shape)
		}
	}
	return out
}

func varNames(g *goLayer) []string {
	out := make([]string, len(g.vars))
	for i, v := range g.vars {
		out[i] = v.Weight
	}
	return out
}
