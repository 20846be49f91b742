package export

// #cgo LDFLAGS: -ltensorflow
// #include <stdlib.h>
// #include "tensorflow/c/c_api.h"
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// graphToFunctionDef turns a serialized GraphDef into a serialized FunctionDef named name,
// whose arguments are output 0 of the ops named in inputs and whose results are output
// 0 of the ops named in outputs (called outputNames in the signature). graft has no
// function API, so this goes through TF_GraphToFunction, which fills in every attribute
// and argument reference exactly as TensorFlow expects.
func graphToFunctionDef(graphDef []byte, name string, inputs, outputs, outputNames []string) ([]byte, error) {
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	g := C.TF_NewGraph()
	defer C.TF_DeleteGraph(g)

	buf := C.TF_NewBufferFromString(unsafe.Pointer(&graphDef[0]), C.size_t(len(graphDef)))
	defer C.TF_DeleteBuffer(buf)
	opts := C.TF_NewImportGraphDefOptions()
	defer C.TF_DeleteImportGraphDefOptions(opts)
	C.TF_GraphImportGraphDef(g, buf, opts, status)
	if err := statusErr(status); err != nil {
		return nil, fmt.Errorf("function %s: import body: %w", name, err)
	}

	find := func(op string) (C.TF_Output, error) {
		cs := C.CString(op)
		defer C.free(unsafe.Pointer(cs))
		o := C.TF_GraphOperationByName(g, cs)
		if o == nil {
			return C.TF_Output{}, fmt.Errorf("function %s: no op %q in the body", name, op)
		}
		return C.TF_Output{oper: o, index: 0}, nil
	}
	// The C arrays live in C memory: cgo forbids passing Go memory that holds Go pointers.
	cIn := (*[1 << 20]C.TF_Output)(C.malloc(C.size_t(len(inputs)+1) * C.size_t(unsafe.Sizeof(C.TF_Output{}))))
	defer C.free(unsafe.Pointer(cIn))
	for i, n := range inputs {
		o, err := find(n)
		if err != nil {
			return nil, err
		}
		cIn[i] = o
	}
	cOut := (*[1 << 20]C.TF_Output)(C.malloc(C.size_t(len(outputs)+1) * C.size_t(unsafe.Sizeof(C.TF_Output{}))))
	defer C.free(unsafe.Pointer(cOut))
	cNames := (*[1 << 20]*C.char)(C.malloc(C.size_t(len(outputs)+1) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(cNames))
	for i, n := range outputs {
		o, err := find(n)
		if err != nil {
			return nil, err
		}
		cOut[i] = o
		cNames[i] = C.CString(outputNames[i])
		defer C.free(unsafe.Pointer(cNames[i]))
	}

	cName := C.CString(name)
	defer C.free(unsafe.Pointer(cName))
	fn := C.TF_GraphToFunction(g, cName, 0, -1, nil,
		C.int(len(inputs)), &cIn[0], C.int(len(outputs)), &cOut[0], &cNames[0], nil, nil, status)
	if err := statusErr(status); err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	defer C.TF_DeleteFunction(fn)

	out := C.TF_NewBuffer()
	defer C.TF_DeleteBuffer(out)
	C.TF_FunctionToFunctionDef(fn, out, status)
	if err := statusErr(status); err != nil {
		return nil, fmt.Errorf("function %s: serialize: %w", name, err)
	}
	return C.GoBytes(out.data, C.int(out.length)), nil
}

func statusErr(s *C.TF_Status) error {
	if C.TF_GetCode(s) == C.TF_OK {
		return nil
	}
	return errors.New(C.GoString(C.TF_Message(s)))
}
