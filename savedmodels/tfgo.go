package savedmodels

import (
	"fmt"

	tg "github.com/galeone/tfgo"
	tf "github.com/wamuir/graft/tensorflow"
)

// tfgoModel wraps tfgo's Model, which panics by design, so that nothing panics across
// this package's boundary. tfgo's types are graft's (see third_party/tfshim).
type tfgoModel struct{ m *tg.Model }

// recovered turns a tfgo panic into an error.
func recovered(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(error); ok {
			*err = e
		} else {
			*err = fmt.Errorf("%v", r)
		}
	}
}

func loadWithTfgo(dir string, so *tf.SessionOptions) (m *tfgoModel, err error) {
	defer recovered(&err)
	return &tfgoModel{tg.LoadModel(dir, []string{ServeTag}, so)}, nil
}

// op finds a signature tensor given as "op:index".
func (t *tfgoModel) op(name string) (out tf.Output, err error) {
	defer recovered(&err)
	opName, idx, err := parseTensorName(name)
	if err != nil {
		return tf.Output{}, err
	}
	return t.m.Op(opName, idx), nil
}

func (t *tfgoModel) exec(fetch []tf.Output, feed map[tf.Output]*tf.Tensor) (out []*tf.Tensor, err error) {
	defer recovered(&err)
	return t.m.Exec(fetch, feed), nil
}
