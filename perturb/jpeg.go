package perturb

import (
	"fmt"
	"sync"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
	"github.com/xraylab/xray/internal/tflog"
)

// jpegGraph encodes uint8 [h, w, c] at a quality fed at run time
// (EncodeJpegVariableQuality: libjpeg's defaults, 4:2:0 chroma for colour, no
// progressive, no optimisation, as Pillow's save) and decodes it again (DecodeJpeg:
// accurate integer IDCT, fancy upsampling, as Pillow's open).
type jpegGraph struct {
	sess        *tf.Session
	in, quality tf.Output
	out         tf.Output
}

var (
	jpegOnce sync.Once
	jpegG    *jpegGraph
	jpegErr  error
)

func loadJPEG() (*jpegGraph, error) {
	jpegOnce.Do(func() {
		s := op.NewScope()
		g := &jpegGraph{}
		g.in = op.Placeholder(s.SubScope("image"), tf.Uint8, op.PlaceholderShape(tf.MakeShape(-1, -1, -1)))
		g.quality = op.Placeholder(s.SubScope("quality"), tf.Int32, op.PlaceholderShape(tf.ScalarShape()))
		g.out = op.DecodeJpeg(s, op.EncodeJpegVariableQuality(s, g.in, g.quality), op.DecodeJpegDctMethod("INTEGER_ACCURATE"))
		graph, err := s.Finalize()
		if err != nil {
			jpegErr = err
			return
		}
		tflog.Once(nil)
		g.sess, jpegErr = tf.NewSession(graph, nil)
		jpegG = g
	})
	return jpegG, jpegErr
}

// jpeg is p encoded at quality q and decoded.
func (p planes) jpeg(q int) (out planes, err error) {
	defer func() {
		if r := recover(); r != nil { // graft panics on some misuse
			err = fmt.Errorf("jpeg: %v", r)
		}
	}()
	g, err := loadJPEG()
	if err != nil {
		return planes{}, fmt.Errorf("jpeg: %w", err)
	}
	t, err := tf.NewTensor(p.pix)
	if err != nil {
		return planes{}, err
	}
	if err := t.Reshape([]int64{int64(p.h), int64(p.w), int64(p.c)}); err != nil {
		return planes{}, err
	}
	qt, err := tf.NewTensor(int32(q))
	if err != nil {
		return planes{}, err
	}
	res, err := g.sess.Run(map[tf.Output]*tf.Tensor{g.in: t, g.quality: qt}, []tf.Output{g.out}, nil)
	if err != nil {
		return planes{}, fmt.Errorf("jpeg: %w", err)
	}
	pix := flatU8(res[0].Value().([][][]uint8))
	if len(pix) != len(p.pix) {
		return planes{}, fmt.Errorf("jpeg: decoded %d samples, want %d", len(pix), len(p.pix))
	}
	return planes{p.w, p.h, p.c, pix}, nil
}

func flatU8(v [][][]uint8) []uint8 {
	var out []uint8
	for _, row := range v {
		for _, px := range row {
			out = append(out, px...)
		}
	}
	return out
}
