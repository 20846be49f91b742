package weights

// #cgo pkg-config: hdf5
// #include <stdlib.h>
// #include <string.h>
// #include <hdf5.h>
//
// // xray_str_attr reads the string or string-array attribute `name` of obj into one
// // malloc'd buffer of n NUL-terminated strings and returns n; -1: no such attribute;
// // -2: not strings (an empty array of another type, as h5py stores Keras's empty
// // weight_names, gives 0); -3: an HDF5 error. gonum.org/v1/hdf5 reads scalar strings only.
// static long xray_str_attr(hid_t obj, const char *name, char **out, size_t *outlen) {
// 	*out = NULL;
// 	*outlen = 0;
// 	htri_t ex = H5Aexists(obj, name);
// 	if (ex < 0) return -3;
// 	if (ex == 0) return -1;
// 	hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
// 	if (a < 0) return -3;
// 	long rc = -3;
// 	hid_t ft = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
// 	hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
// 	if (ft < 0 || n < 0) goto done;
// 	if (H5Tget_class(ft) != H5T_STRING) { rc = n == 0 ? 0 : -2; goto done; }
// 	if (n == 0) { rc = 0; goto done; }
// 	if (H5Tis_variable_str(ft) > 0) {
// 		char **v = calloc((size_t)n, sizeof(char *));
// 		mt = H5Tcopy(H5T_C_S1);
// 		H5Tset_size(mt, H5T_VARIABLE);
// 		H5Tset_cset(mt, H5Tget_cset(ft));
// 		if (v == NULL || H5Aread(a, mt, v) < 0) { free(v); goto done; }
// 		size_t total = 0;
// 		for (hssize_t i = 0; i < n; i++) total += (v[i] ? strlen(v[i]) : 0) + 1;
// 		char *buf = malloc(total), *p = buf;
// 		for (hssize_t i = 0; buf != NULL && i < n; i++) {
// 			size_t l = v[i] ? strlen(v[i]) : 0;
// 			if (l) memcpy(p, v[i], l);
// 			p[l] = 0;
// 			p += l + 1;
// 		}
// 		H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
// 		free(v);
// 		if (buf == NULL) goto done;
// 		*out = buf;
// 		*outlen = total;
// 	} else {
// 		size_t sz = H5Tget_size(ft);
// 		char *raw = malloc((size_t)n * sz), *buf = malloc((size_t)n * (sz + 1)), *p = buf;
// 		if (raw == NULL || buf == NULL || H5Aread(a, ft, raw) < 0) { free(raw); free(buf); goto done; }
// 		for (hssize_t i = 0; i < n; i++) {
// 			size_t l = strnlen(raw + i * sz, sz);
// 			memcpy(p, raw + i * sz, l);
// 			p[l] = 0;
// 			p += l + 1;
// 		}
// 		free(raw);
// 		*out = buf;
// 		*outlen = (size_t)(p - buf);
// 	}
// 	rc = (long)n;
// done:
// 	if (mt >= 0) H5Tclose(mt);
// 	if (sp >= 0) H5Sclose(sp);
// 	if (ft >= 0) H5Tclose(ft);
// 	H5Aclose(a);
// 	return rc;
// }
//
// // xray_float_class says whether a dataset holds floating-point numbers (1), other
// // numbers (0), or the query failed (-1).
// static int xray_float_class(hid_t ds) {
// 	hid_t t = H5Dget_type(ds);
// 	if (t < 0) return -1;
// 	int c = H5Tget_class(t) == H5T_FLOAT;
// 	H5Tclose(t);
// 	return c;
// }
//
// // xray_read_f32 reads a whole dataset converted to native float32.
// static herr_t xray_read_f32(hid_t ds, float *buf) {
// 	return H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
// }
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"gonum.org/v1/hdf5"
)

// h5mu serialises every HDF5 call: Debian's libhdf5 is built without thread safety.
var h5mu sync.Mutex

// h5File is the small view of an HDF5 file the Keras layouts need: groups, string
// attributes, float datasets. It reads through the HDF5 library itself (libhdf5 via
// gonum.org/v1/hdf5), which reads every file h5py writes.
type h5File struct {
	f *hdf5.File
}

// openH5 opens path, first checking that the file is as long as its superblock says, so
// a truncated download gets a plain message rather than an HDF5 error stack.
func openH5(path string) (*h5File, error) {
	if err := checkComplete(path); err != nil {
		return nil, err
	}
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("not a readable HDF5 file (corrupt, or not written by h5py/Keras: %v)", err)
	}
	return &h5File{f: f}, nil
}

func (h *h5File) Close() error { return h.f.Close() }

// checkComplete compares the file's size with the end-of-file address its superblock
// records (the test libhdf5 makes before it reports "truncated file").
func checkComplete(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated file: %d bytes", st.Size())
	}
	head = head[:n]
	if n < 9 || string(head[:8]) != "\x89HDF\r\n\x1a\n" {
		if n < 8 {
			return fmt.Errorf("truncated file: %d bytes", st.Size())
		}
		return fmt.Errorf("not an HDF5 file (no HDF5 signature)")
	}
	var eofAt, offSize int
	switch v := head[8]; v {
	case 0, 1:
		// signature, 8 version/size bytes, K values and flags (8 bytes, 12 in v1), then
		// base address, free-space address, end-of-file address.
		if n < 16 {
			return fmt.Errorf("truncated file: %d bytes, too short for an HDF5 superblock", st.Size())
		}
		offSize = int(head[13])
		eofAt = 24 + 2*offSize
		if v == 1 {
			eofAt += 4
		}
	case 2, 3:
		// signature, version, offset size, length size, flags, base, extension, EOF.
		offSize = int(head[9])
		eofAt = 12 + 2*offSize
	default:
		return fmt.Errorf("unsupported HDF5 superblock version %d", v)
	}
	if offSize != 8 && offSize != 4 {
		return fmt.Errorf("unsupported HDF5 offset size %d", offSize)
	}
	if n < eofAt+offSize {
		return fmt.Errorf("truncated file: %d bytes, too short for an HDF5 superblock", st.Size())
	}
	var eof uint64
	if offSize == 8 {
		eof = binary.LittleEndian.Uint64(head[eofAt:])
	} else {
		eof = uint64(binary.LittleEndian.Uint32(head[eofAt:]))
	}
	if uint64(st.Size()) < eof {
		return fmt.Errorf("truncated file: %d of %d bytes (an interrupted download or copy? fetch it again)", st.Size(), eof)
	}
	return nil
}

// isGroup says whether path names a group.
func (h *h5File) isGroup(path string) bool {
	if path == "/" {
		return true
	}
	parent, name := splitPath(path)
	if !h.isGroup(parent) || !h.f.LinkExists(path) {
		return false
	}
	g, err := h.f.OpenGroup(parent)
	if err != nil {
		return false
	}
	defer g.Close()
	groups, _ := listGroup(g)
	for _, c := range groups {
		if c == name {
			return true
		}
	}
	return false
}

func splitPath(p string) (parent, name string) {
	p = strings.TrimSuffix(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}

// strings reads a string or string-list attribute of a group; ok is false when the
// group has no such attribute.
func (h *h5File) strings(group, name string) (vals []string, ok bool, err error) {
	g, err := h.f.OpenGroup(group)
	if err != nil {
		return nil, false, fmt.Errorf("group %s: %v", group, err)
	}
	defer g.Close()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var buf *C.char
	var size C.size_t
	n := C.xray_str_attr(C.hid_t(g.ID()), cname, &buf, &size)
	switch {
	case n == -1:
		return nil, false, nil
	case n == -2:
		return nil, true, fmt.Errorf("group %s: attribute %s is not text", group, name)
	case n < 0:
		return nil, true, fmt.Errorf("group %s: attribute %s cannot be read (corrupt file)", group, name)
	}
	defer C.free(unsafe.Pointer(buf))
	if n == 0 {
		return nil, true, nil
	}
	raw := C.GoStringN(buf, C.int(size))
	parts := strings.Split(strings.TrimSuffix(raw, "\x00"), "\x00")
	if len(parts) != int(n) {
		return nil, true, fmt.Errorf("group %s: attribute %s: %d strings, want %d", group, name, len(parts), n)
	}
	for i := range parts {
		parts[i] = strings.TrimRight(parts[i], " ")
	}
	return parts, true, nil
}

// stringList reads a Keras string-list attribute, which Keras splits into name0, name1,
// ... when it exceeds HDF5's 64 KiB object-header limit.
func (h *h5File) stringList(group, name string) ([]string, bool, error) {
	if v, ok, err := h.strings(group, name); ok || err != nil {
		return v, ok, err
	}
	var out []string
	for i := 0; ; i++ {
		v, ok, err := h.strings(group, fmt.Sprintf("%s%d", name, i))
		if err != nil {
			return nil, true, err
		}
		if !ok {
			return out, i > 0, nil
		}
		out = append(out, v...)
	}
}

// str reads a single-string attribute ("" when absent).
func (h *h5File) str(group, name string) string {
	v, ok, err := h.strings(group, name)
	if !ok || err != nil || len(v) != 1 {
		return ""
	}
	return v[0]
}

// readFloats reads a dataset of floating-point numbers as float32 with its shape.
func (h *h5File) readFloats(path string) (shape []int64, data []float32, err error) {
	ds, err := h.f.OpenDataset(path)
	if err != nil {
		return nil, nil, fmt.Errorf("no dataset %s (truncated or corrupt file)", path)
	}
	defer ds.Close()
	switch C.xray_float_class(C.hid_t(ds.ID())) {
	case 1:
	case 0:
		return nil, nil, fmt.Errorf("dataset %s does not hold floating-point numbers", path)
	default:
		return nil, nil, fmt.Errorf("dataset %s: unreadable type (corrupt file)", path)
	}
	sp := ds.Space()
	if sp == nil {
		return nil, nil, fmt.Errorf("dataset %s: unreadable shape (corrupt file)", path)
	}
	dims, _, err := sp.SimpleExtentDims()
	sp.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %s: shape: %v", path, err)
	}
	shape = make([]int64, len(dims))
	for i, d := range dims {
		shape[i] = int64(d)
	}
	data = make([]float32, numElements(shape))
	if len(data) > 0 {
		if rc := C.xray_read_f32(C.hid_t(ds.ID()), (*C.float)(unsafe.Pointer(&data[0]))); rc < 0 {
			return nil, nil, fmt.Errorf("dataset %s cannot be read (truncated or corrupt file)", path)
		}
	}
	return shape, data, nil
}

// children lists a group's sub-groups and datasets, sorted by name.
func (h *h5File) children(group string) (groups, sets []string, err error) {
	g, err := h.f.OpenGroup(group)
	if err != nil {
		return nil, nil, fmt.Errorf("group %s: %v", group, err)
	}
	defer g.Close()
	groups, sets = listGroup(g)
	return groups, sets, nil
}

func listGroup(g *hdf5.Group) (groups, sets []string) {
	n, err := g.NumObjects()
	if err != nil {
		return nil, nil
	}
	for i := uint(0); i < n; i++ {
		name, err := g.ObjectNameByIndex(i)
		if err != nil {
			continue
		}
		typ, err := g.ObjectTypeByIndex(i)
		if err != nil {
			continue
		}
		switch typ {
		case hdf5.H5G_GROUP:
			groups = append(groups, name)
		case hdf5.H5G_DATASET:
			sets = append(sets, name)
		}
	}
	sort.Strings(groups)
	sort.Strings(sets)
	return groups, sets
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}
