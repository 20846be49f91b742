package devices

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
	avpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	kpb "github.com/wamuir/graft/tensorflow/core/framework/kernel_def_go_proto"
	"google.golang.org/protobuf/proto"
)

var kernelCache sync.Map // op type -> []*kpb.KernelDef

// deviceDefault is DEVICE_DEFAULT: a kernel for any device TensorFlow falls back to when
// none registered for the device type itself matches.
const deviceDefault = "DEFAULT"

// Kernels returns the kernels the linked TensorFlow registers for an op type
// (TF_GetRegisteredKernelsForOp), every device type.
func Kernels(opType string) ([]*kpb.KernelDef, error) {
	if k, ok := kernelCache.Load(opType); ok {
		return k.([]*kpb.KernelDef), nil
	}
	name := C.CString(opType)
	defer C.free(unsafe.Pointer(name))
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	buf := C.TF_GetRegisteredKernelsForOp(name, st)
	if C.TF_GetCode(st) != C.TF_OK {
		return nil, fmt.Errorf("kernels of %s: %s", opType, C.GoString(C.TF_Message(st)))
	}
	defer C.TF_DeleteBuffer(buf)
	var list kpb.KernelList
	if err := proto.Unmarshal(C.GoBytes(buf.data, C.int(buf.length)), &list); err != nil {
		return nil, fmt.Errorf("kernels of %s: %w", opType, err)
	}
	kernelCache.Store(opType, list.Kernel)
	return list.Kernel, nil
}

// GPUBuild reports whether the linked TensorFlow is a GPU build: one that registers GPU
// kernels (a CPU-only library registers none, whatever hardware is present).
func GPUBuild() (bool, error) {
	ks, err := Kernels("Conv2D")
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ks, func(k *kpb.KernelDef) bool { return k.DeviceType == GPU }), nil
}

// Missing is a node of a graph with no kernel for a device type.
type Missing struct {
	Op    string // op type, "Conv2D"
	Node  string // first node of that op type and attributes
	Attrs string // the type attributes no kernel accepts, "T=DT_INT64"
	Count int    // nodes of that op type and attributes
}

func (m Missing) String() string {
	s := m.Op
	if m.Attrs != "" {
		s += " (" + m.Attrs + ")"
	}
	return fmt.Sprintf("%s, e.g. node %s (%d nodes)", s, m.Node, m.Count)
}

// MissingKernelsError lists a graph's ops with no kernel for a device type.
type MissingKernelsError struct {
	DeviceType string
	Missing    []Missing
}

func (e *MissingKernelsError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		parts[i] = m.String()
	}
	return fmt.Sprintf("TensorFlow has no %s kernel for %s", e.DeviceType, strings.Join(parts, "; "))
}

// CheckKernels reports (as a *MissingKernelsError) every op of g that the linked
// TensorFlow has no deviceType kernel for, matching kernels the way TensorFlow's kernel
// lookup does: the device type or DEFAULT (kernels registered for every device, such as
// Placeholder or int32 Const kept in host memory), no label, and the node's type
// attributes within each of the kernel's type constraints.
func CheckKernels(g *tf.Graph, deviceType string) error {
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return fmt.Errorf("read graph: %w", err)
	}
	var def gpb.GraphDef
	if err := proto.Unmarshal(buf.Bytes(), &def); err != nil {
		return fmt.Errorf("read graph: %w", err)
	}
	missing := map[string]*Missing{}
	for _, n := range def.Node {
		ks, err := Kernels(n.Op)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(ks, func(k *kpb.KernelDef) bool { return accepts(k, deviceType, n.Attr) }) {
			continue
		}
		attrs := typeAttrs(ks, deviceType, n.Attr)
		key := n.Op + "|" + attrs
		if m, ok := missing[key]; ok {
			m.Count++
			continue
		}
		missing[key] = &Missing{Op: n.Op, Node: n.Name, Attrs: attrs, Count: 1}
	}
	if len(missing) == 0 {
		return nil
	}
	e := &MissingKernelsError{DeviceType: deviceType}
	for _, m := range missing {
		e.Missing = append(e.Missing, *m)
	}
	sort.Slice(e.Missing, func(i, j int) bool { return e.Missing[i].Op+e.Missing[i].Attrs < e.Missing[j].Op+e.Missing[j].Attrs })
	return e
}

// accepts reports whether kernel k runs a node with attrs on deviceType.
func accepts(k *kpb.KernelDef, deviceType string, attrs map[string]*avpb.AttrValue) bool {
	if (k.DeviceType != deviceType && k.DeviceType != deviceDefault) || k.Label != "" {
		return false
	}
	for _, c := range k.Constraint {
		a, ok := attrs[c.Name]
		if !ok {
			return false
		}
		allowed := c.GetAllowedValues().GetList().GetType()
		types := a.GetList().GetType()
		if _, single := a.Value.(*avpb.AttrValue_Type); single {
			types = append(types[:0:0], a.GetType())
		}
		for _, t := range types {
			if !slices.Contains(allowed, t) {
				return false
			}
		}
	}
	return true
}

// typeAttrs names the node's values of the attributes the device's kernels constrain,
// "T=DT_INT64", so a missing kernel says which type lacks it.
func typeAttrs(ks []*kpb.KernelDef, deviceType string, attrs map[string]*avpb.AttrValue) string {
	var names []string
	for _, k := range ks {
		for _, c := range k.Constraint {
			if (k.DeviceType == deviceType || k.DeviceType == deviceDefault) && !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		a, ok := attrs[n]
		switch {
		case !ok:
		case a.GetList() != nil:
			parts = append(parts, fmt.Sprintf("%s=%v", n, a.GetList().GetType()))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", n, a.GetType()))
		}
	}
	return strings.Join(parts, ", ")
}
