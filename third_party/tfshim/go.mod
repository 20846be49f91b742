// A shim that answers to the import paths of galeone's fork of the TensorFlow Go binding
// (which tfgo imports) with aliases over graft, so exactly one binding is linked.
module github.com/galeone/tensorflow/tensorflow/go

go 1.26

require github.com/wamuir/graft v0.10.0

require google.golang.org/protobuf v1.34.2 // indirect
