module github.com/xraylab/xray

go 1.26

// Exactly one TensorFlow binding is linked: graft. tfgo imports galeone's fork of the
// binding; this in-repo module provides those package paths as aliases over graft.
replace github.com/galeone/tensorflow/tensorflow/go => ./third_party/tfshim

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/galeone/tensorflow/tensorflow/go v0.0.0-20221023090153-6b7fa0680c3e // indirect
	github.com/galeone/tfgo v0.0.0-20230715013254-16113111dc99 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/urfave/cli/v2 v2.27.7 // indirect
	github.com/wamuir/graft v0.10.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	google.golang.org/protobuf v1.34.2 // indirect
)
