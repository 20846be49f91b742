// Package binding holds the test that proves exactly one TensorFlow binding is linked:
// graft builds and runs graphs, and tfgo (whose imports resolve to the in-repo shim over
// graft) loads and runs a SavedModel, in one process.
package binding
