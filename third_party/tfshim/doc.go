// Package tensorflow answers to github.com/galeone/tensorflow/tensorflow/go, the binding
// tfgo imports, with aliases over github.com/wamuir/graft/tensorflow. Two bindings in
// one process register the same protobuf files and panic at start-up; with this shim
// wired in by a go.mod replace, graft is the only binding linked and tfgo's values are
// graft's values.
package tensorflow

//go:generate go run gen/main.go
