// Package tfdist reaches the parts of TensorFlow's C API that graft does not wrap and that
// distributed training needs: TensorFlow's own gRPC server (TF_NewServer, TF_ServerStart,
// TF_ServerTarget, TF_ServerJoin) and a node's requested device after it was created
// (TF_SetRequestedDevice), which placing the gradient ops TF_AddGradients builds needs.
//
//	srv, err := tfdist.NewServer(serverDef) // a tensorflow.ServerDef: the cluster and this task
//	defer srv.Close()
//	err = srv.Start()                        // serve; a chief's session then uses srv.Target()
package tfdist

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
)

// graft keeps the C handles in the first field of its Graph and Operation structs
// (graft v0.10.0, pinned in go.mod); TestSetDevice checks the cast still holds.
type graftGraph struct{ c *C.TF_Graph }
type graftOperation struct{ c *C.TF_Operation }

// SetDevice sets the requested device of op, an operation of g, as if it had been
// created under a device scope. Only before a session has run g.
func SetDevice(g *tf.Graph, op *tf.Operation, device string) {
	cg := (*graftGraph)(unsafe.Pointer(g)).c
	co := (*graftOperation)(unsafe.Pointer(op)).c
	d := C.CString(device)
	defer C.free(unsafe.Pointer(d))
	C.TF_SetRequestedDevice(cg, co, d)
}

// Server is an in-process TensorFlow gRPC server (a tf.distribute.Server).
type Server struct {
	mu      sync.Mutex
	c       *C.TF_Server
	started bool
}

// NewServer creates a server from a serialized tensorflow.ServerDef. It binds its port
// here, so a port in use fails now.
func NewServer(serverDef []byte) (*Server, error) {
	if len(serverDef) == 0 {
		return nil, errors.New("tensorflow server: empty server definition")
	}
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	p := C.CBytes(serverDef)
	defer C.free(p)
	c := C.TF_NewServer(p, C.size_t(len(serverDef)), st)
	if err := statusErr(st); err != nil {
		return nil, fmt.Errorf("tensorflow server: %w", err)
	}
	return &Server{c: c}, nil
}

// Start starts serving.
func (s *Server) Start() error {
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	s.mu.Lock()
	defer s.mu.Unlock()
	C.TF_ServerStart(s.c, st)
	if err := statusErr(st); err != nil {
		return fmt.Errorf("start tensorflow server: %w", err)
	}
	s.started = true
	return nil
}

// Target is the session target that reaches this server, "grpc://host:port".
func (s *Server) Target() string { return C.GoString(C.TF_ServerTarget(s.c)) }

// Join blocks until the server stops (TensorFlow's servers do not stop before the
// process ends, so a worker's Join returns only on error).
func (s *Server) Join() error {
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	C.TF_ServerJoin(s.c, st)
	return statusErr(st)
}

// Close frees a server that never started. A started one serves until the process
// exits: TensorFlow's gRPC server has no clean shutdown (its Stop is unimplemented, and
// deleting a running server aborts the process).
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil || s.started {
		return
	}
	C.TF_DeleteServer(s.c)
	s.c = nil
}

func statusErr(st *C.TF_Status) error {
	if C.TF_GetCode(st) == C.TF_OK {
		return nil
	}
	return errors.New(C.GoString(C.TF_Message(st)))
}
