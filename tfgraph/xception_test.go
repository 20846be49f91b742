package tfgraph

// Xception's cases of the Keras parity tests (keras_test.go): the paper's 256 x 256 with
// average pooling, and a smaller side (150: a 5 x 5 feature map) with max pooling. They
// also run in TestSummaryMatchesKeras; TestMinInputSize covers Xception's minimum (103).
func init() {
	parityCases = append(parityCases,
		Config{Arch: Xception, InputSize: 256, Pool: PoolAvg},
		Config{Arch: Xception, InputSize: 150, Pool: PoolMax},
	)
}
