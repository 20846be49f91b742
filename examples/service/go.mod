module github.com/xraylab/xray/examples/service

go 1.26.0

require github.com/xraylab/xray v0.0.0-00010101000000-000000000000

require (
	github.com/galeone/tensorflow/tensorflow/go v0.0.0-20221023090153-6b7fa0680c3e // indirect
	github.com/galeone/tfgo v0.0.0-20230715013254-16113111dc99 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	github.com/schollz/progressbar/v3 v3.19.1 // indirect
	github.com/wamuir/graft v0.10.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/term v0.48.0 // indirect
	google.golang.org/protobuf v1.34.2 // indirect
)

// Inside the repository: use this checkout. A service elsewhere drops this line and
// requires a released version of github.com/xraylab/xray instead.
replace github.com/xraylab/xray => ../..

// Needed by every module that imports xray: tfgo (which xray uses) imports galeone's
// fork of the TensorFlow binding; this replace makes it an alias of graft, so one binding
// is linked. Elsewhere: a copy of xray's third_party/tfshim, or a go.work over both.
replace github.com/galeone/tensorflow/tensorflow/go => ../../third_party/tfshim
