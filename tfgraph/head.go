package tfgraph

import (
	tf "github.com/wamuir/graft/tensorflow"
)

// The paper's head, identical for the three backbones (shared/docs/paper-facts.md):
// 4 x 4 pooling -> Flatten -> Dense 1024, 512, 256, 128, 64, 32 (ReLU) ->
// BatchNormalization -> Dense N softmax (N = 2 in the paper: normal, pneumonia). Its layers take Keras's automatic names, as in
// the paper's functional code: average_pooling2d / max_pooling2d, flatten, dense,
// dense_1 ... dense_6, batch_normalization (suffixed further when the backbone already
// used an automatic name, e.g. InceptionV3's batch_normalization_N).

// HeadPool is the head's pooling window (and, Keras's default, its strides).
const HeadPool = 4

// headUnits are the hidden Dense widths.
var headUnits = []int64{1024, 512, 256, 128, 64, 32}

// NumClasses is the paper's head output width (0 = normal, 1 = pneumonia), the width
// Config.Classes 0 means.
const NumClasses = 2

func buildHead(b *builder, x tf.Output, pool string, classes int) (logits, probs tf.Output) {
	b.inHead = true
	window := [2]int64{HeadPool, HeadPool}
	if pool == PoolMax {
		x = b.MaxPooling2D(x, "", window, window, "valid")
	} else {
		x = b.AveragePooling2D(x, "", window, window, "valid")
	}
	x = b.Flatten(x, "")
	for _, u := range headUnits {
		x, _ = b.Dense(x, "", u, "relu")
	}
	x = b.BatchNormalization(x, "", BNOptions{})
	// The output layer runs in float32 under every policy (Keras: Dense(dtype="float32")),
	// so the softmax and the loss on its logits are float32.
	b.withDtype(tf.Float, func() { probs, logits = b.Dense(x, "", int64(classes), "softmax") })
	return logits, probs
}
