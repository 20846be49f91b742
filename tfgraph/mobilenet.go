package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
)

// keras.applications.MobileNet (v1), alpha 1.0, depth multiplier 1, include_top=False,
// mirrored from keras/src/applications/mobilenet.py block by block.

// mobileNetBlocks lists the depthwise-separable blocks after conv1: pointwise filters and
// strides, block ids 1..13.
var mobileNetBlocks = []struct {
	filters int64
	stride  int64
}{
	{64, 1},
	{128, 2}, {128, 1},
	{256, 2}, {256, 1},
	{512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
	{1024, 2}, {1024, 1},
}

func mobileNetBackbone(b *builder, x tf.Output) tf.Output {
	x = mobileNetConvBlock(b, x, 32, [2]int64{2, 2})
	for i, blk := range mobileNetBlocks {
		x = mobileNetDepthwiseBlock(b, x, blk.filters, blk.stride, i+1)
	}
	return x
}

// mobileNetConvBlock is _conv_block: Conv2D 3x3 'same' without bias, BN, ReLU(6).
func mobileNetConvBlock(b *builder, x tf.Output, filters int64, strides [2]int64) tf.Output {
	x = b.Conv2D(x, "conv1", filters, [2]int64{3, 3}, strides, "same", false)
	x = b.BatchNormalization(x, "conv1_bn", BNOptions{})
	return b.ReLU(x, "conv1_relu", 6)
}

// mobileNetDepthwiseBlock is _depthwise_conv_block: strided blocks pad bottom/right by one
// and use 'valid' padding; then depthwise 3x3, BN, ReLU(6), pointwise 1x1, BN, ReLU(6).
func mobileNetDepthwiseBlock(b *builder, x tf.Output, pointwiseFilters, stride int64, id int) tf.Output {
	padding := "same"
	if stride != 1 {
		x = b.ZeroPadding2D(x, fmt.Sprintf("conv_pad_%d", id), 0, 1, 0, 1)
		padding = "valid"
	}
	x = b.DepthwiseConv2D(x, fmt.Sprintf("conv_dw_%d", id), [2]int64{3, 3}, [2]int64{stride, stride}, padding, 1, false)
	x = b.BatchNormalization(x, fmt.Sprintf("conv_dw_%d_bn", id), BNOptions{})
	x = b.ReLU(x, fmt.Sprintf("conv_dw_%d_relu", id), 6)
	x = b.Conv2D(x, fmt.Sprintf("conv_pw_%d", id), pointwiseFilters, [2]int64{1, 1}, [2]int64{1, 1}, "same", false)
	x = b.BatchNormalization(x, fmt.Sprintf("conv_pw_%d_bn", id), BNOptions{})
	return b.ReLU(x, fmt.Sprintf("conv_pw_%d_relu", id), 6)
}
