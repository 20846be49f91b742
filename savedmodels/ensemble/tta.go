package ensemble

import (
	tf "github.com/wamuir/graft/tensorflow"
	"github.com/wamuir/graft/tensorflow/op"
)

// TTAViews are the fixed views test-time augmentation averages, in order: --tta N takes
// the first N. Each is a box (y1, x1, y2, x2) in normalized coordinates of the
// preprocessed image (0 = first pixel centre, 1 = last, as tf.image.crop_and_resize), cut
// out and resized bilinearly back to the input side. All lie inside the image (no
// padding, whose value would depend on the scaling) and none is mirrored: the heart's
// side matters in a chest X-ray. View 0 is the image itself.
var TTAViews = [][4]float32{
	{0, 0, 1, 1},                 // the image
	{0.05, 0.05, 0.95, 0.95},     // zoom 1/0.9 on the centre
	{0, 0, 0.9, 0.9},             // zoom 1/0.9, shifted to the top left
	{0, 0.1, 0.9, 1},             // ... top right
	{0.1, 0, 1, 0.9},             // ... bottom left
	{0.1, 0.1, 1, 1},             // ... bottom right
	{0.025, 0.025, 0.975, 0.975}, // zoom 1/0.95 on the centre
	{0.1, 0.1, 0.9, 0.9},         // zoom 1/0.8 on the centre
}

// ttaViews stacks the first n views of x, float32 [B, size, size, 3], view-major:
// [n*B, size, size, 3], rows v*B..v*B+B-1 being view v of every image. n <= 1 is x.
func ttaViews(s *op.Scope, x tf.Output, n, size int) tf.Output {
	if n <= 1 {
		return x
	}
	s = s.SubScope("tta")
	batch := op.Slice(s.SubScope("batch"), op.Shape(s, x, op.ShapeOutType(tf.Int32)), op.Const(s.SubScope("b0"), []int32{0}), op.Const(s.SubScope("b1"), []int32{1}))
	index := op.Range(s, op.Const(s.SubScope("zero"), int32(0)), op.Reshape(s, batch, op.Const(s.SubScope("scalar"), []int32{})), op.Const(s.SubScope("one"), int32(1)))
	views := []tf.Output{x}
	for v := 1; v < n; v++ {
		vs := s.SubScope("view")
		box := TTAViews[v]
		boxes := op.Tile(vs, op.Const(vs.SubScope("box"), [][]float32{box[:]}), op.Concat(vs, op.Const(vs.SubScope("axis"), int32(0)), []tf.Output{batch, op.Const(vs.SubScope("one"), []int32{1})}))
		views = append(views, op.CropAndResize(vs, x, boxes, index, op.Const(vs.SubScope("size"), []int32{int32(size), int32(size)})))
	}
	return op.Concat(s, op.Const(s.SubScope("axis"), int32(0)), views)
}

// ttaMean averages y, [n*B, ...] from n views stacked as ttaViews does, over the views:
// [B, ...]. n <= 1 is y.
func ttaMean(s *op.Scope, y tf.Output, n int, rest ...int64) tf.Output {
	if n <= 1 {
		return y
	}
	shape := append([]int64{int64(n), -1}, rest...)
	return op.Mean(s, op.Reshape(s, y, op.Const(s.SubScope("shape"), shape)), op.Const(s.SubScope("axis"), int32(0)))
}

// ttaFirst is view 0 (the image itself) of y, [n*B, ...] stacked as ttaViews does: [B, ...].
func ttaFirst(s *op.Scope, y tf.Output, n int, rest ...int64) tf.Output {
	if n <= 1 {
		return y
	}
	shape := append([]int64{int64(n), -1}, rest...)
	return op.Gather(s, op.Reshape(s, y, op.Const(s.SubScope("shape"), shape)), op.Const(s.SubScope("view0"), int32(0)))
}
