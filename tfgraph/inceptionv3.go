package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
)

// keras.applications.InceptionV3, include_top=False, mirrored from
// keras/src/applications/inception_v3.py block by block. Its conv2d_bn helper passes no
// names, so nearly every layer takes Keras's automatic name (conv2d_N,
// batch_normalization_N, activation_N, average_pooling2d_N, max_pooling2d_N,
// concatenate_N), numbered in creation order: the branches below are built in exactly
// Keras's statement order. Only the block outputs are named (mixed0 ... mixed10, mixed9_0,
// mixed9_1).

func inceptionV3Backbone(b *builder, x tf.Output) tf.Output {
	layerStart, varStart := len(b.layers), len(b.order)
	// conv2d_bn with its default padding 'same' and strides 1, and with padding 'valid'.
	cbn := func(x tf.Output, filters, rows, cols int64) tf.Output {
		return inceptionConvBN(b, x, filters, rows, cols, 1, "same")
	}
	cbnValid := func(x tf.Output, filters, rows, cols, stride int64) tf.Output {
		return inceptionConvBN(b, x, filters, rows, cols, stride, "valid")
	}

	// Stem.
	x = cbnValid(x, 32, 3, 3, 2)
	x = cbnValid(x, 32, 3, 3, 1)
	x = cbn(x, 64, 3, 3)
	x = inceptionMaxPool(b, x)
	x = cbnValid(x, 80, 1, 1, 1)
	x = cbnValid(x, 192, 3, 3, 1)
	x = inceptionMaxPool(b, x)

	// mixed0, mixed1, mixed2: 35 x 35 blocks (at 299) whose pooling branch has 32, 64, 64 filters.
	for i, poolFilters := range []int64{32, 64, 64} {
		branch1x1 := cbn(x, 64, 1, 1)

		branch5x5 := cbn(x, 48, 1, 1)
		branch5x5 = cbn(branch5x5, 64, 5, 5)

		branch3x3dbl := cbn(x, 64, 1, 1)
		branch3x3dbl = cbn(branch3x3dbl, 96, 3, 3)
		branch3x3dbl = cbn(branch3x3dbl, 96, 3, 3)

		branchPool := inceptionAvgPool(b, x)
		branchPool = cbn(branchPool, poolFilters, 1, 1)
		x = b.Concatenate(fmt.Sprintf("mixed%d", i), branch1x1, branch5x5, branch3x3dbl, branchPool)
	}

	// mixed3: reduction to 17 x 17.
	{
		branch3x3 := cbnValid(x, 384, 3, 3, 2)

		branch3x3dbl := cbn(x, 64, 1, 1)
		branch3x3dbl = cbn(branch3x3dbl, 96, 3, 3)
		branch3x3dbl = cbnValid(branch3x3dbl, 96, 3, 3, 2)

		branchPool := inceptionMaxPool(b, x)
		x = b.Concatenate("mixed3", branch3x3, branch3x3dbl, branchPool)
	}

	// mixed4 ... mixed7: 17 x 17 blocks with factorised 7 x 7 convolutions of c channels.
	for i, c := range []int64{128, 160, 160, 192} {
		branch1x1 := cbn(x, 192, 1, 1)

		branch7x7 := cbn(x, c, 1, 1)
		branch7x7 = cbn(branch7x7, c, 1, 7)
		branch7x7 = cbn(branch7x7, 192, 7, 1)

		branch7x7dbl := cbn(x, c, 1, 1)
		branch7x7dbl = cbn(branch7x7dbl, c, 7, 1)
		branch7x7dbl = cbn(branch7x7dbl, c, 1, 7)
		branch7x7dbl = cbn(branch7x7dbl, c, 7, 1)
		branch7x7dbl = cbn(branch7x7dbl, 192, 1, 7)

		branchPool := inceptionAvgPool(b, x)
		branchPool = cbn(branchPool, 192, 1, 1)
		x = b.Concatenate(fmt.Sprintf("mixed%d", 4+i), branch1x1, branch7x7, branch7x7dbl, branchPool)
	}

	// mixed8: reduction to 8 x 8.
	{
		branch3x3 := cbn(x, 192, 1, 1)
		branch3x3 = cbnValid(branch3x3, 320, 3, 3, 2)

		branch7x7x3 := cbn(x, 192, 1, 1)
		branch7x7x3 = cbn(branch7x7x3, 192, 1, 7)
		branch7x7x3 = cbn(branch7x7x3, 192, 7, 1)
		branch7x7x3 = cbnValid(branch7x7x3, 192, 3, 3, 2)

		branchPool := inceptionMaxPool(b, x)
		x = b.Concatenate("mixed8", branch3x3, branch7x7x3, branchPool)
	}

	// mixed9, mixed10: 8 x 8 blocks with split 1 x 3 / 3 x 1 branches.
	for i := range 2 {
		branch1x1 := cbn(x, 320, 1, 1)

		branch3x3 := cbn(x, 384, 1, 1)
		branch3x3a := cbn(branch3x3, 384, 1, 3)
		branch3x3b := cbn(branch3x3, 384, 3, 1)
		branch3x3 = b.Concatenate(fmt.Sprintf("mixed9_%d", i), branch3x3a, branch3x3b)

		branch3x3dbl := cbn(x, 448, 1, 1)
		branch3x3dbl = cbn(branch3x3dbl, 384, 3, 3)
		branch3x3dblA := cbn(branch3x3dbl, 384, 1, 3)
		branch3x3dblB := cbn(branch3x3dbl, 384, 3, 1)
		branch3x3dbl = b.Concatenate("", branch3x3dblA, branch3x3dblB)

		branchPool := inceptionAvgPool(b, x)
		branchPool = cbn(branchPool, 192, 1, 1)
		x = b.Concatenate(fmt.Sprintf("mixed%d", 9+i), branch1x1, branch3x3, branch3x3dbl, branchPool)
	}

	b.kerasOrderSince(layerStart, varStart)
	return x
}

// inceptionConvBN is conv2d_bn without a name: Conv2D without bias, BatchNormalization
// with scale=False, ReLU as an Activation layer.
func inceptionConvBN(b *builder, x tf.Output, filters, rows, cols, stride int64, padding string) tf.Output {
	x = b.Conv2D(x, "", filters, [2]int64{rows, cols}, [2]int64{stride, stride}, padding, false)
	x = b.BatchNormalization(x, "", BNOptions{NoScale: true})
	return b.Activation(x, "", "relu")
}

// inceptionMaxPool is MaxPooling2D((3, 3), strides=(2, 2)) with the default 'valid'.
func inceptionMaxPool(b *builder, x tf.Output) tf.Output {
	return b.MaxPooling2D(x, "", [2]int64{3, 3}, [2]int64{2, 2}, "valid")
}

// inceptionAvgPool is the pooling branch's AveragePooling2D((3, 3), strides=(1, 1),
// padding="same"), which averages over the cells inside the image only.
func inceptionAvgPool(b *builder, x tf.Output) tf.Output {
	return b.AveragePooling2D(x, "", [2]int64{3, 3}, [2]int64{1, 1}, "same")
}
