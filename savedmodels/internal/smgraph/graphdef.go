package smgraph

import (
	"bytes"
	"fmt"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	"google.golang.org/protobuf/proto"
)

// GraphDef serializes g and parses it back as a proto, for edits graft has no API for.
func GraphDef(g *tf.Graph) (*gpb.GraphDef, error) {
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("serialize graph: %w", err)
	}
	def := new(gpb.GraphDef)
	if err := proto.Unmarshal(buf.Bytes(), def); err != nil {
		return nil, fmt.Errorf("parse graph: %w", err)
	}
	return def, nil
}

// NodeName is the op name an input reference ("name", "name:1", "^name") points at.
func NodeName(input string) string {
	input = strings.TrimPrefix(input, "^")
	if i := strings.LastIndexByte(input, ':'); i >= 0 {
		return input[:i]
	}
	return input
}

// Prune keeps the nodes of def that roots (op names) need, data and control inputs both,
// in their original order. The function library stays whole.
func Prune(def *gpb.GraphDef, roots []string) (*gpb.GraphDef, error) {
	byName := make(map[string]int, len(def.Node))
	for i, n := range def.Node {
		byName[n.Name] = i
	}
	keep := make(map[string]bool, len(def.Node))
	stack := make([]string, 0, len(roots))
	for _, r := range roots {
		if _, ok := byName[r]; !ok {
			return nil, fmt.Errorf("prune graph: no op %q", r)
		}
		stack = append(stack, r)
	}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if keep[name] {
			continue
		}
		keep[name] = true
		for _, in := range def.Node[byName[name]].Input {
			if src := NodeName(in); !keep[src] {
				if _, ok := byName[src]; !ok {
					return nil, fmt.Errorf("prune graph: op %q reads missing op %q", name, src)
				}
				stack = append(stack, src)
			}
		}
	}
	out := &gpb.GraphDef{Versions: def.Versions, Library: def.Library}
	for _, n := range def.Node {
		if keep[n.Name] {
			out.Node = append(out.Node, n)
		}
	}
	return out, nil
}
