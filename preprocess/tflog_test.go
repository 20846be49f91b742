package preprocess

import (
	"os"
	"testing"

	"github.com/xraylab/xray/internal/tflog/tflogtest"
)

// TestLibraryQuiet: a program that uses our libraries without cmd/xray (this test binary,
// run again as a child that preprocesses an X-ray through its TensorFlow session) prints
// neither TensorFlow's MLIR line nor Abseil's banner on standard error, and what the
// program itself writes there stays; with TF_CPP_MIN_LOG_LEVEL=0 (TensorFlow's lines
// asked for) the same child prints the line, so the check can fail.
func TestLibraryQuiet(t *testing.T) {
	if tflogtest.InChild() {
		b, err := os.ReadFile("../testdata/chest_xray/test/NORMAL/IM-0226-0001.jpeg")
		if err != nil {
			t.Fatal(err)
		}
		tflogtest.Child(func() {
			if _, err := (Preprocessor{Size: 32, Scaling: Unit}).Bytes(b); err != nil {
				t.Fatal(err)
			}
		})
		return
	}
	tflogtest.Check(t, "TestLibraryQuiet")
}
