// Package weights reads Keras weight files — the ImageNet "no top" files keras.applications
// downloads, legacy full-model .h5 files, Keras 3 .weights.h5 and .keras archives — and
// assigns them to the variables of a tfgraph model, which carry Keras's layer and weight
// names. It also fetches and verifies the ImageNet files in Keras's own cache.
package weights

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Layout is the structure of a Keras weight file.
type Layout string

// The layouts Open understands.
const (
	// LegacyWeights is Keras 2's save_weights(".h5"), the layout of the ImageNet files:
	// root attribute layer_names, per layer group attribute weight_names, datasets at
	// <layer>/<weight name>.
	LegacyWeights Layout = "keras2-weights"
	// LegacyModel is Keras 2's model.save(".h5"): the same under model_weights/, plus
	// the model_config attribute.
	LegacyModel Layout = "keras2-model"
	// Keras3Weights is Keras 3's save_weights(".weights.h5"): layers/<path>/vars/<i>,
	// each vars group naming its layer in attribute "name".
	Keras3Weights Layout = "keras3-weights"
	// Keras3Archive is Keras 3's model.save(".keras"): a zip holding model.weights.h5.
	Keras3Archive Layout = "keras3-archive"
)

// Tensor is one weight as stored in the file.
type Tensor struct {
	Layer  string // Keras layer name, e.g. "conv_dw_3"
	Weight string // weight name, e.g. "depthwise_kernel"; "" where the file only numbers them (Keras 3)
	Path   string // where it lives in the HDF5 file
	Shape  []int64
	Data   []float32 // row-major
}

// Layer is one layer's weights, in the layer's own weight order.
type Layer struct {
	Name    string
	Tensors []Tensor
	// order sorts layers of one automatic-name kind (dense, batch_normalization, ...) in
	// model order: the file's layer order in the legacy layouts; in Keras 3, whose groups
	// are stored sorted by name, see keras3Order.
	order int
}

// File is a Keras weight file read into memory.
type File struct {
	Path         string
	Layout       Layout
	KerasVersion string  // legacy layouts only
	Backend      string  // legacy layouts only
	Layers       []Layer // layers that have weights
}

// Tensors lists every tensor of the file, layer by layer.
func (f *File) Tensors() []Tensor {
	var ts []Tensor
	for _, l := range f.Layers {
		ts = append(ts, l.Tensors...)
	}
	return ts
}

// NumParams is the number of values in the file.
func (f *File) NumParams() int64 {
	var n int64
	for _, t := range f.Tensors() {
		n += numElements(t.Shape)
	}
	return n
}

// Open reads a Keras weight file, detecting its layout. Errors name the file.
func Open(path string) (*File, error) {
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("read weights %s: %w", filepath.Base(path), err)
	}
	return f, nil
}

func open(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("is a directory (want a .h5, .weights.h5 or .keras file)")
	}
	magic := make([]byte, 4)
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadFull(fh, magic)
	fh.Close()
	if err != nil {
		return nil, fmt.Errorf("truncated file: %d bytes", st.Size())
	}
	if string(magic) == "PK\x03\x04" {
		return openArchive(path)
	}
	return openH5File(path)
}

// openArchive reads the model.weights.h5 inside a .keras zip (via a temporary file: the
// HDF5 reader needs random access to a named file).
func openArchive(path string) (*File, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("not a readable .keras archive (truncated or corrupt?): %w", err)
	}
	defer z.Close()
	var entry *zip.File
	for _, e := range z.File {
		if e.Name == "model.weights.h5" {
			entry = e
		}
	}
	if entry == nil {
		return nil, fmt.Errorf(".keras archive without model.weights.h5 (saved with Keras older than 3? re-save the model with model.save(\"m.keras\") in Keras 3 or model.save(\"m.h5\"))")
	}
	r, err := entry.Open()
	if err != nil {
		return nil, fmt.Errorf("model.weights.h5 in archive: %w", err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp("", "xray-keras-*.weights.h5")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return nil, fmt.Errorf("model.weights.h5 in archive: %w (truncated or corrupt archive)", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	f, err := openH5File(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("model.weights.h5 in archive: %w", err)
	}
	f.Path, f.Layout = path, Keras3Archive
	return f, nil
}

func openH5File(path string) (*File, error) {
	h5mu.Lock()
	defer h5mu.Unlock()
	h, err := openH5(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	f := &File{Path: path}
	rootGroups, _, err := h.children("/")
	if err != nil {
		return nil, err
	}
	has := func(name string) bool {
		for _, g := range rootGroups {
			if g == name {
				return true
			}
		}
		return false
	}
	names, legacy, err := h.stringList("/", "layer_names")
	switch {
	case err != nil:
		return nil, err
	case legacy:
		f.Layout = LegacyWeights
		err = readLegacy(h, "/", names, rootGroups, f)
	case has("model_weights"):
		f.Layout = LegacyModel
		var groups []string
		if names, legacy, err = h.stringList("/model_weights", "layer_names"); err == nil && !legacy {
			err = fmt.Errorf("model_weights has no layer_names attribute (corrupt file)")
		}
		if err == nil {
			groups, _, err = h.children("/model_weights")
		}
		if err == nil {
			err = readLegacy(h, "/model_weights", names, groups, f)
		}
	case has("layers"):
		f.Layout = Keras3Weights
		err = readKeras3(h, "/layers", f)
	default:
		return nil, fmt.Errorf("not a Keras weight file: no layer_names attribute, model_weights group or layers group")
	}
	if err != nil {
		return nil, err
	}
	if len(f.Layers) == 0 {
		return nil, fmt.Errorf("the file holds no weights")
	}
	return f, nil
}

// readLegacy reads Keras 2's layout under group: layer_names in model order, each layer's
// weight_names in its weight order. This is what Keras's own load_weights walks.
func readLegacy(h *h5File, group string, names, groups []string, f *File) error {
	f.KerasVersion = h.str(group, "keras_version")
	f.Backend = h.str(group, "backend")
	present := make(map[string]bool, len(groups))
	for _, g := range groups {
		present[g] = true
	}
	base := strings.TrimSuffix(group, "/")
	for i, name := range names {
		lg := base + "/" + name
		if !present[name] {
			return fmt.Errorf("layer %s is listed in layer_names but has no group (truncated or corrupt file)", name)
		}
		wnames, ok, err := h.stringList(lg, "weight_names")
		if err != nil {
			return fmt.Errorf("layer %s: %w", name, err)
		}
		if !ok {
			return fmt.Errorf("layer %s has no weight_names attribute (corrupt file)", name)
		}
		if len(wnames) == 0 {
			continue
		}
		// A nested model (a backbone used as one layer of the paper model) is one group
		// whose weight names carry their own layers: "conv1/kernel:0", "conv1_bn/gamma:0".
		// Keras 2 lists such a group's trainable weights first, then the BN statistics,
		// so the sub-layers are gathered by name, in order of first appearance.
		nested := len(weightPrefixes(wnames)) > 1
		var sub []*Layer
		byName := map[string]*Layer{}
		for _, wn := range wnames {
			p := lg + "/" + wn
			shape, data, err := h.readFloats(p)
			if err != nil {
				return fmt.Errorf("layer %s: weight %s: %w", name, wn, err)
			}
			layer := name
			if nested {
				layer = weightPrefix(wn)
			}
			l := byName[layer]
			if l == nil {
				l = &Layer{Name: layer, order: i*100000 + len(sub)}
				byName[layer] = l
				sub = append(sub, l)
			}
			l.Tensors = append(l.Tensors, Tensor{Layer: layer, Weight: legacyWeightName(wn), Path: p, Shape: shape, Data: data})
		}
		for _, l := range sub {
			f.Layers = append(f.Layers, *l)
		}
	}
	return nil
}

// weightPrefix is the layer part of a stored weight name ("conv1_bn/gamma:0" ->
// "conv1_bn"), "" for names without one (Keras 1).
func weightPrefix(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return ""
}

func weightPrefixes(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[weightPrefix(n)] = true
	}
	return m
}

// legacyWeightName turns a stored weight name into Keras's weight name:
// "conv1_bn/gamma:0" -> "gamma" (Keras 2); Keras 1 names such as "conv1_W:0" keep their
// stem, which the mapper then leaves to order and shape.
func legacyWeightName(s string) string {
	s = strings.TrimSuffix(s, ":0")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// readKeras3 reads Keras 3's layout: every vars group under /layers holding datasets
// 0..n-1 is one layer's weights, in the layer's weight order. The optimizer's state
// (/optimizer/vars) is not part of the model and is not read.
func readKeras3(h *h5File, group string, f *File) error {
	groups, _, err := h.children(group)
	if err != nil {
		return err
	}
	sort.Slice(groups, func(i, j int) bool { return naturalLess(groups[i], groups[j]) })
	for _, g := range groups {
		p := group + "/" + g
		if g != "vars" {
			if err := readKeras3(h, p, f); err != nil {
				return err
			}
			continue
		}
		_, sets, err := h.children(p)
		if err != nil {
			return err
		}
		if len(sets) == 0 {
			continue
		}
		name := h.str(p, "name")
		if name == "" {
			// Keras 3 releases before layer names were stored address layers by class
			// name only ("conv2d_3"), which does not say which layer of the model it is.
			return fmt.Errorf("%s has no layer name (written by an early Keras 3 release); load it in Keras and save it again with keras>=3.8 (model.save(\"m.keras\"))", group)
		}
		l := Layer{Name: name, order: keras3Order(group)}
		for i := range sets {
			dp := p + "/" + strconv.Itoa(i)
			shape, data, err := h.readFloats(dp)
			if err != nil {
				return fmt.Errorf("layer %s: %w", name, err)
			}
			l.Tensors = append(l.Tensors, Tensor{Layer: name, Path: dp, Shape: shape, Data: data})
		}
		f.Layers = append(f.Layers, l)
	}
	return nil
}

var reAutoSuffix = regexp.MustCompile(`_(\d+)$`)

// keras3Order ranks a Keras 3 layer group such as /layers/functional/layers/conv2d_7 in
// model order among layers of its class. Keras 3 names these groups after the class,
// numbered in the order of model.layers within each model, so the number is the rank
// inside its model; layers of a nested model (the backbone of a transfer-learning model)
// rank before the outer model's own (its head). The layer names themselves number
// layers in creation order, which differs from model order (InceptionV3's branches).
func keras3Order(group string) int {
	depth := strings.Count(group, "/layers/")
	return autoSuffix(group) - depth*1_000_000
}

// autoSuffix is the counter Keras appends to automatic layer names: dense -> 0,
// dense_7 -> 7.
func autoSuffix(name string) int {
	if m := reAutoSuffix.FindStringSubmatch(name); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// naturalLess orders paths with numbers compared as numbers ("conv2d_2" < "conv2d_10").
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		ia, ib := digitsPrefix(a), digitsPrefix(b)
		if ia > 0 && ib > 0 {
			na, _ := strconv.Atoi(a[:ia])
			nb, _ := strconv.Atoi(b[:ib])
			if na != nb {
				return na < nb
			}
			a, b = a[ia:], b[ib:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitsPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
