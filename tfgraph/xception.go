package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
)

// keras.applications.Xception, include_top=False, mirrored from
// keras/src/applications/xception.py block by block. Every convolution is without bias;
// every BatchNormalization has Keras's defaults (epsilon 1e-3). The residual 1 x 1
// convolutions and their BatchNormalization layers are unnamed in Keras, so they take
// automatic names (conv2d, conv2d_1, ..., batch_normalization, ...), which the head's
// own BatchNormalization then continues (batch_normalization_4).

func xceptionBackbone(b *builder, x tf.Output) tf.Output {
	layerStart, varStart := len(b.layers), len(b.order)

	// Entry flow: two plain convolutions ('valid' padding, Conv2D's default).
	x = b.Conv2D(x, "block1_conv1", 32, [2]int64{3, 3}, [2]int64{2, 2}, "valid", false)
	x = b.BatchNormalization(x, "block1_conv1_bn", BNOptions{})
	x = b.Activation(x, "block1_conv1_act", "relu")
	x = b.Conv2D(x, "block1_conv2", 64, [2]int64{3, 3}, [2]int64{1, 1}, "valid", false)
	x = b.BatchNormalization(x, "block1_conv2_bn", BNOptions{})
	x = b.Activation(x, "block1_conv2_act", "relu")

	// Downsampling residual blocks; block 2 starts without an activation because
	// block1_conv2_act precedes it.
	x = xceptionDownBlock(b, x, 2, 128, 128, false)
	x = xceptionDownBlock(b, x, 3, 256, 256, true)
	x = xceptionDownBlock(b, x, 4, 728, 728, true)

	// Middle flow: eight identity-residual blocks of three separable convolutions.
	for id := 5; id <= 12; id++ {
		residual := x
		for j := 1; j <= 3; j++ {
			prefix := fmt.Sprintf("block%d_sepconv%d", id, j)
			x = b.Activation(x, prefix+"_act", "relu")
			x = xceptionSepConv(b, x, prefix, 728)
			x = b.BatchNormalization(x, prefix+"_bn", BNOptions{})
		}
		x = b.Add("", x, residual)
	}

	// Exit flow.
	x = xceptionDownBlock(b, x, 13, 728, 1024, true)
	x = xceptionSepConv(b, x, "block14_sepconv1", 1536)
	x = b.BatchNormalization(x, "block14_sepconv1_bn", BNOptions{})
	x = b.Activation(x, "block14_sepconv1_act", "relu")
	x = xceptionSepConv(b, x, "block14_sepconv2", 2048)
	x = b.BatchNormalization(x, "block14_sepconv2_bn", BNOptions{})
	x = b.Activation(x, "block14_sepconv2_act", "relu")

	b.kerasOrderSince(layerStart, varStart)
	return x
}

// xceptionDownBlock is one of Xception's blocks 2, 3, 4 and 13: a strided 1 x 1
// convolution + BN on the shortcut (built first, as Keras does, which fixes the automatic
// names), then [ReLU] SepConv BN ReLU SepConv BN, a 3 x 3 / 2 'same' max pooling and the
// sum with the shortcut. Note Keras names block 2's only activation block2_sepconv2_act.
func xceptionDownBlock(b *builder, x tf.Output, id int, filters1, filters2 int64, leadingReLU bool) tf.Output {
	residual := b.Conv2D(x, "", filters2, [2]int64{1, 1}, [2]int64{2, 2}, "same", false)
	residual = b.BatchNormalization(residual, "", BNOptions{})

	prefix := fmt.Sprintf("block%d_", id)
	if leadingReLU {
		x = b.Activation(x, prefix+"sepconv1_act", "relu")
	}
	x = xceptionSepConv(b, x, prefix+"sepconv1", filters1)
	x = b.BatchNormalization(x, prefix+"sepconv1_bn", BNOptions{})
	x = b.Activation(x, prefix+"sepconv2_act", "relu")
	x = xceptionSepConv(b, x, prefix+"sepconv2", filters2)
	x = b.BatchNormalization(x, prefix+"sepconv2_bn", BNOptions{})
	x = b.MaxPooling2D(x, prefix+"pool", [2]int64{3, 3}, [2]int64{2, 2}, "same")
	return b.Add("", x, residual)
}

// xceptionSepConv is Xception's SeparableConv2D: 3 x 3, stride 1, 'same', no bias.
func xceptionSepConv(b *builder, x tf.Output, name string, filters int64) tf.Output {
	return b.SeparableConv2D(x, name, filters, [2]int64{3, 3}, [2]int64{1, 1}, "same", false)
}
