package tfgraph

// InceptionV3's cases of the Keras parity tests (keras_test.go): the paper's 256 x 256
// with average pooling, and Keras's default 299 x 299 with max pooling. They also run in
// TestSummaryMatchesKeras; TestMinInputSize covers InceptionV3's minimum (171).
func init() {
	parityCases = append(parityCases,
		Config{Arch: InceptionV3, InputSize: 256, Pool: PoolAvg},
		Config{Arch: InceptionV3, InputSize: 299, Pool: PoolMax},
	)
}
