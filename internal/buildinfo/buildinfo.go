// Package buildinfo names the versions a run records: ours, TensorFlow's, the binding's.
package buildinfo

import tf "github.com/wamuir/graft/tensorflow"

// Version of xray; overridden at link time with -ldflags "-X ...buildinfo.Version=v1.2.3".
var Version = "0.1.0-dev"

// GraftVersion is the pinned Go binding (TensorFlow 2.18).
const GraftVersion = "v0.10.0"

// TensorFlowVersion is the version the linked TensorFlow C library reports.
func TensorFlowVersion() string { return tf.Version() }
