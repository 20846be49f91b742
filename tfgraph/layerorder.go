package tfgraph

import (
	"errors"
	"slices"
)

// Keras does not list a Functional model's layers in the order the code created them: it
// sorts them by depth (the longest path to the output, deepest first) and breaks ties by
// a depth-first walk from the output (keras/src/ops/function.py, map_graph). model.layers,
// model.weights and model.summary() all follow that order. For a chain (MobileNet) it is
// the creation order; for branching backbones (Xception's residual convolutions,
// InceptionV3's towers) it is not, e.g. Xception lists conv2d after block2_sepconv2_bn.

// kerasOrderSince reorders the layers and variables the inference pass created since
// b.layers[layerStart] and b.order[varStart] (one backbone, whose last layer is its
// output) into Keras's order. Layers feeding the segment from before it (the input layer)
// keep their place. Every path from the backbone to the model's output runs through the
// backbone's output, so sorting the backbone alone gives its order within the whole model.
func (b *builder) kerasOrderSince(layerStart, varStart int) {
	if b.finding() || len(b.layers)-layerStart < 2 {
		return
	}
	seg := b.layers[layerStart:]
	index := make(map[string]int, len(seg)) // layer name -> position in seg
	for i, l := range seg {
		index[l.Name] = i
	}

	// Depth-first walk from the output over inputs in order: first-visit (traversal)
	// indices and the post-order of finished layers, as _build_map records them.
	visitIndex := make([]int, len(seg))
	for i := range visitIndex {
		visitIndex[i] = -1
	}
	var postOrder []int
	visited := 0
	var walk func(i int)
	walk = func(i int) {
		if visitIndex[i] >= 0 {
			return
		}
		visitIndex[i] = visited
		visited++
		for _, in := range seg[i].Inputs {
			if j, ok := index[in]; ok {
				walk(j)
			}
		}
		postOrder = append(postOrder, i)
	}
	walk(len(seg) - 1)
	if len(postOrder) != len(seg) {
		panic(buildError{errLayerOrder})
	}

	// Depth: 0 at the output, else 1 + the largest depth among the layers it feeds.
	// Reversed post-order visits every consumer before its producers.
	depth := make([]int, len(seg))
	for k := len(postOrder) - 1; k >= 0; k-- {
		i := postOrder[k]
		for _, in := range seg[i].Inputs {
			if j, ok := index[in]; ok {
				depth[j] = max(depth[j], depth[i]+1)
			}
		}
	}

	perm := make([]int, len(seg))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, c int) int {
		if depth[a] != depth[c] {
			return depth[c] - depth[a] // deepest first
		}
		return visitIndex[a] - visitIndex[c]
	})
	sorted := make([]LayerInfo, len(seg))
	rank := make(map[string]int, len(seg))
	for k, i := range perm {
		sorted[k] = seg[i]
		rank[seg[i].Name] = k
	}
	copy(seg, sorted)

	// Variables follow their layers; within a layer they keep their creation order.
	vars := b.order[varStart:]
	slices.SortStableFunc(vars, func(v, w *Variable) int { return rank[v.Layer] - rank[w.Layer] })
}

var errLayerOrder = errors.New("backbone layers are not all connected to its output (a layer built but not used)")
