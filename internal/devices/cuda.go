package devices

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// The CUDA driver API, looked up in libcuda.so.1 (the library TensorFlow itself loads;
// the NVIDIA container toolkit mounts it). Nothing is linked against it, so a machine
// without a driver just gets no description.
typedef int (*xray_cu_init)(unsigned int);
typedef int (*xray_cu_device_get)(int*, int);
typedef int (*xray_cu_device_get_name)(char*, int, int);
typedef int (*xray_cu_device_get_attribute)(int*, int, int);
typedef int (*xray_cu_device_total_mem)(size_t*, int);
typedef int (*xray_cu_int_version)(int*);
typedef size_t (*xray_cudnn_version)(void);

enum { XRAY_CC_MAJOR = 75, XRAY_CC_MINOR = 76 }; // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*

static void* xray_libcuda(void) { return dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); }

// xray_cuda_device describes CUDA device `ordinal`; 0 on success.
static int xray_cuda_device(int ordinal, char* name, int len, int* major, int* minor, size_t* mem) {
	void* h = xray_libcuda();
	if (h == NULL) return -1;
	xray_cu_init init = (xray_cu_init)dlsym(h, "cuInit");
	xray_cu_device_get get = (xray_cu_device_get)dlsym(h, "cuDeviceGet");
	xray_cu_device_get_name get_name = (xray_cu_device_get_name)dlsym(h, "cuDeviceGetName");
	xray_cu_device_get_attribute attr = (xray_cu_device_get_attribute)dlsym(h, "cuDeviceGetAttribute");
	xray_cu_device_total_mem total = (xray_cu_device_total_mem)dlsym(h, "cuDeviceTotalMem_v2");
	int rc = -2, dev = 0;
	if (init && get && get_name && attr && total && init(0) == 0 && get(&dev, ordinal) == 0 &&
	    get_name(name, len, dev) == 0 && attr(major, XRAY_CC_MAJOR, dev) == 0 &&
	    attr(minor, XRAY_CC_MINOR, dev) == 0 && total(mem, dev) == 0) {
		rc = 0;
	}
	dlclose(h);
	return rc;
}

// xray_loaded_version asks an already loaded library (path) for its version: sym is
// cuDriverGetVersion / cudaRuntimeGetVersion (int*) or cudnnGetVersion (size_t(void)).
// -1 when the library is not loaded or lacks the symbol.
static long xray_loaded_version(const char* path, const char* sym, int is_cudnn) {
	void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) return -1;
	long v = -1;
	void* f = dlsym(h, sym);
	if (f != NULL && is_cudnn) {
		v = (long)((xray_cudnn_version)f)();
	} else if (f != NULL) {
		int n = 0;
		if (((xray_cu_int_version)f)(&n) == 0) v = n;
	}
	dlclose(h);
	return v;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"
)

// describeGPU fills d's model, compute capability and memory from the CUDA driver. TF's
// GPU:N is CUDA device N when TensorFlow's visible_device_list is not set (xray never
// sets it; CUDA_VISIBLE_DEVICES renumbers both alike).
func describeGPU(d *Device) {
	i := d.index()
	if i < 0 {
		return
	}
	var name [256]C.char
	var major, minor C.int
	var mem C.size_t
	if C.xray_cuda_device(C.int(i), &name[0], C.int(len(name)), &major, &minor, &mem) != 0 {
		return
	}
	d.Model = C.GoString(&name[0])
	d.ComputeCapability = fmt.Sprintf("%d.%d", int(major), int(minor))
	d.TotalMemoryBytes = int64(mem)
}

// CUDA is what the process has loaded of NVIDIA's stack. TensorFlow's C API does not
// expose the CUDA and cuDNN versions the library was built with, so these are the
// versions of the libraries it actually loaded (empty until TensorFlow loads them: cuDNN
// comes with the first convolution on a GPU).
type CUDA struct {
	Driver    string   `json:"driver,omitempty"`  // CUDA version the driver supports, "12.4"
	Runtime   string   `json:"runtime,omitempty"` // libcudart, "12.3"
	CuDNN     string   `json:"cudnn,omitempty"`   // libcudnn, "9.3.0"
	Libraries []string `json:"libraries,omitempty"`
}

// LoadedCUDA reports the CUDA libraries mapped into this process (Linux /proc/self/maps)
// and their versions; the zero value on a CPU run.
func LoadedCUDA() CUDA {
	var c CUDA
	for _, p := range mappedLibraries() {
		base := filepath.Base(p)
		var sym string
		switch {
		case strings.HasPrefix(base, "libcuda.so"):
			sym = "cuDriverGetVersion"
		case strings.HasPrefix(base, "libcudart.so"):
			sym = "cudaRuntimeGetVersion"
		case strings.HasPrefix(base, "libcudnn.so"):
			sym = "cudnnGetVersion"
		case strings.HasPrefix(base, "libcudnn"), strings.HasPrefix(base, "libcublas"), strings.HasPrefix(base, "libcufft"),
			strings.HasPrefix(base, "libcusolver"), strings.HasPrefix(base, "libcusparse"), strings.HasPrefix(base, "libnccl"):
		default:
			continue
		}
		c.Libraries = append(c.Libraries, p)
		if sym == "" {
			continue
		}
		cp, cs := C.CString(p), C.CString(sym)
		v := int64(C.xray_loaded_version(cp, cs, boolInt(sym == "cudnnGetVersion")))
		C.free(unsafe.Pointer(cp))
		C.free(unsafe.Pointer(cs))
		switch {
		case v < 0:
		case sym == "cudnnGetVersion":
			c.CuDNN = cudnnVersion(v)
		case sym == "cudaRuntimeGetVersion":
			c.Runtime = cudaVersion(v)
		default:
			c.Driver = cudaVersion(v)
		}
	}
	return c
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// cudaVersion formats CUDA's 1000*major + 10*minor.
func cudaVersion(v int64) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// cudnnVersion formats cudnnGetVersion: 10000*major + 100*minor + patch from cuDNN 9,
// 1000*major + 100*minor + patch before.
func cudnnVersion(v int64) string {
	if v >= 90000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v%1000/100, v%100)
}

// mappedLibraries lists the shared objects mapped into the process, sorted, once each.
func mappedLibraries() []string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.Contains(fields[5], ".so") {
			continue
		}
		out = append(out, fields[5])
	}
	slices.Sort(out)
	return slices.Compact(out)
}
