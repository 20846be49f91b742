package tfgraph

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// Variable is a resource variable named by its Keras weight path, so a weight file, a
// checkpoint, a SavedModel and `xray summary` all speak the same names.
type Variable struct {
	Name      string  // Keras 3 weight path (w.path): "conv_dw_1/kernel", "block2_sepconv1/depthwise_kernel"
	Layer     string  // Keras layer name: "conv_dw_1"
	Weight    string  // Keras weight name within the layer: "kernel", "moving_mean"
	Shape     []int64 // static shape
	Trainable bool    // false for BN moving statistics
	Head      bool    // part of the paper's dense head (not the backbone): --freeze-base trains only these

	Handle  tf.Output     // VarHandleOp (shared_name = Name)
	Value   tf.Output     // ReadVariableOp: the forward graph reads the variable through this
	Initial *tf.Operation // AssignVariableOp of the Keras-default initial value (seeded)

	// Feed and Assign set the variable from Go: run Assign feeding a tensor to Feed.
	Feed   tf.Output
	Assign *tf.Operation
}

// NumElements is the product of the variable's shape.
func (v *Variable) NumElements() int64 {
	n := int64(1)
	for _, d := range v.Shape {
		n *= d
	}
	return n
}

// newVariable creates the ops of one variable under s (a scope named after the variable).
// initial computes its initial value in the graph.
func newVariable(s *op.Scope, layer, weight string, shape []int64, trainable bool, initial func(s *op.Scope) tf.Output) *Variable {
	name := layer + "/" + weight
	vs := s.SubScope(weight)
	h := op.VarHandleOp(vs, tf.Float, tf.MakeShape(shape...), op.VarHandleOpSharedName(name))
	v := &Variable{Name: name, Layer: layer, Weight: weight, Shape: append([]int64(nil), shape...), Trainable: trainable, Handle: h}
	v.Value = op.ReadVariableOp(vs.SubScope("read"), h, tf.Float)
	v.Initial = op.AssignVariableOp(vs.SubScope("init"), h, initial(vs.SubScope("initializer")))
	v.Feed = op.Placeholder(vs.SubScope("feed"), tf.Float, op.PlaceholderShape(tf.MakeShape(shape...)))
	v.Assign = op.AssignVariableOp(vs.SubScope("assign"), h, v.Feed)
	return v
}

// InitOps returns every variable's initialiser op.
func InitOps(vars []*Variable) []*tf.Operation {
	ops := make([]*tf.Operation, len(vars))
	for i, v := range vars {
		ops[i] = v.Initial
	}
	return ops
}

// Initialize runs every variable's initialiser.
func Initialize(sess *tf.Session, vars []*Variable) error {
	if _, err := sess.Run(nil, nil, InitOps(vars)); err != nil {
		return fmt.Errorf("initialize variables: %w", err)
	}
	return nil
}

// SetValues assigns values (by Keras weight path) to the named variables in one session
// run. Each value's shape must equal the variable's.
func SetValues(sess *tf.Session, vars []*Variable, values map[string]*tf.Tensor) error {
	byName := make(map[string]*Variable, len(vars))
	for _, v := range vars {
		byName[v.Name] = v
	}
	feeds := make(map[tf.Output]*tf.Tensor, len(values))
	var targets []*tf.Operation
	for name, t := range values {
		v, ok := byName[name]
		if !ok {
			return fmt.Errorf("set variables: no variable %q in the graph", name)
		}
		if !slices.Equal(t.Shape(), v.Shape) {
			return fmt.Errorf("set variables: %s: shape %v != %v", name, t.Shape(), v.Shape)
		}
		feeds[v.Feed] = t
		targets = append(targets, v.Assign)
	}
	if len(targets) == 0 {
		return nil
	}
	if _, err := sess.Run(feeds, nil, targets); err != nil {
		return fmt.Errorf("set variables: %w", err)
	}
	return nil
}

// Values reads the current values of vars, keyed by Keras weight path.
func Values(sess *tf.Session, vars []*Variable) (map[string]*tf.Tensor, error) {
	fetches := make([]tf.Output, len(vars))
	for i, v := range vars {
		fetches[i] = v.Value
	}
	out, err := sess.Run(nil, fetches, nil)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	m := make(map[string]*tf.Tensor, len(vars))
	for i, v := range vars {
		m[v.Name] = out[i]
	}
	return m, nil
}

// CleanError strips the Go stack trace graft appends to graph-construction errors, so
// errors stay one readable line.
func CleanError(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if i := strings.Index(s, " (Stacktrace:"); i >= 0 {
		return fmt.Errorf("%s", s[:i])
	}
	return err
}

// NewVariable creates a resource variable `layer/weight` under s, initialised by the
// graph ops initial builds. Architectures use it through their layer builders; it is
// exported for packages that add small graphs of their own (tests, exporters).
func NewVariable(s *op.Scope, layer, weight string, shape []int64, trainable bool, initial func(s *op.Scope) tf.Output) *Variable {
	return newVariable(s, layer, weight, shape, trainable, initial)
}

// Floats returns a float32 tensor's values in row-major order, straight from TensorFlow's
// buffer (no nested slices).
func Floats(t *tf.Tensor) ([]float32, error) {
	if t.DataType() != tf.Float {
		return nil, fmt.Errorf("tensor is %v, not float32", t.DataType())
	}
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, err
	}
	out := make([]float32, buf.Len()/4)
	if err := binary.Read(&buf, binary.LittleEndian, out); err != nil {
		return nil, err
	}
	return out, nil
}
