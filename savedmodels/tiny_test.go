package savedmodels_test

import (
	"testing"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

func tinyModel(t testing.TB, size int, seed int64) (*tfgraph.Model, *tf.Session) {
	t.Helper()
	return savedmodelstest.TinyModel(t, size, seed)
}
