package tfserving

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
)

// FuzzDecodePredict: the request decoder never panics; what it accepts is well formed
// (a known signature, 1..max images, pixels of the model's size), and what it refuses
// is a 400 *Error.
func FuzzDecodePredict(f *testing.F) {
	for _, seed := range []string{
		`{"signature_name":"serving_bytes","instances":[{"b64":"aGVsbG8="}]}`,
		`{"signature_name":"serving_bytes","instances":[{"image_bytes":{"b64":"aGVsbG8="}}]}`,
		`{"signature_name":"serving_bytes","inputs":{"image_bytes":[{"b64":"aGVsbG8="}]}}`,
		`{"signature_name":"serving_bytes","inputs":["raw"]}`,
		`{"instances":[[[[0,0,0],[1,1,1]],[[0,0,0],[1,1,1]]]]}`,
		`{"inputs":{"image":[[[[0,0,0],[1,1,1]],[[0,0,0],[1,1,1]]]]}}`,
		`{"instances":[{"image":[[[0,0,0],[1,1,1]],[[0,0,0],[1,1,1]]]}]}`,
		`{"instances":[], "inputs":[]}`, `[]`, `null`, `{"instances":{"b64":1}}`,
	} {
		f.Add([]byte(seed))
	}
	const side, max = 2, 3
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodePredict(bytes.NewReader(body), side, max)
		if err != nil {
			var e *protocol.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Message == "" {
				t.Fatalf("error %v is not a 400 *Error", err)
			}
			return
		}
		if n := in.Len(); n < 1 || n > max {
			t.Fatalf("accepted %d images", n)
		}
		switch in.Signature {
		case savedmodels.SignatureBytes:
			if in.Pixels != nil {
				t.Fatal("pixels for serving_bytes")
			}
		case savedmodels.SignatureDefault:
			for _, p := range in.Pixels {
				if len(p) != side*side*3 {
					t.Fatalf("%d pixel values, want %d", len(p), side*side*3)
				}
			}
			if in.Files != nil {
				t.Fatal("files for serving_default")
			}
		default:
			t.Fatalf("signature %q accepted", in.Signature)
		}
	})
}

// TestDecodeNaN: NaN, Infinity and -Infinity are read as numbers where a number goes,
// inside strings they stay text, and other bare words are refused.
func TestDecodeNaN(t *testing.T) {
	row := `[[NaN,Infinity,-Infinity],[1e0,-1,-0.5]]`
	in, err := decodePredict(strings.NewReader(`{"note":"NaN Infinity -Infinity \"NaN\"","instances":[[`+row+`,`+row+`]]}`), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	p := in.Pixels[0]
	if !math.IsNaN(float64(p[0])) || !math.IsInf(float64(p[1]), 1) || !math.IsInf(float64(p[2]), -1) || p[3] != 1 || p[4] != -1 || p[5] != -0.5 {
		t.Errorf("pixels %v", p[:6])
	}
	in, err = decodePredict(strings.NewReader(`{"signature_name":"serving_bytes","instances":["NaN -Infinity"]}`), 2, 1)
	if err != nil || string(in.Files[0]) != "NaN -Infinity" {
		t.Errorf("a string with the words: %v %q", err, in.Files)
	}
	for _, body := range []string{`{"instances":[[[[Nope,0,0]]]]}`, `{"instances":[[[[-Inf,0,0]]]]}`} {
		if _, err := decodePredict(strings.NewReader(body), 1, 1); err == nil {
			t.Errorf("%s accepted", body)
		}
	}
}
