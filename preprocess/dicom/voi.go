package dicom

import (
	"fmt"
	"math"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// voiFunc returns the VOI step as a map to 0..1 (0 black, 1 white before inversion).
// image holds the modality values of the image's smallest and largest stored values, full
// those of the smallest and largest BitsStored allows.
func voiFunc(ds *dcmDataset, w Window, image, full [2]float64) (func(float64) float64, error) {
	stretch := func(r [2]float64) func(float64) float64 {
		return func(x float64) float64 {
			if r[1] == r[0] {
				return 0
			}
			return (x - r[0]) / (r[1] - r[0])
		}
	}
	switch w.Mode {
	case WindowMinMax:
		if image[0] > image[1] { // a negative slope
			image[0], image[1] = image[1], image[0]
		}
		return stretch(image), nil
	case WindowFixed:
		return windowFunc("LINEAR", w.Center, w.Width)
	}
	if seq := ds.elems[tag.VOILUTSequence]; seq != nil && len(seq.items) > 0 {
		return voiLUT(seq.items[0])
	}
	c, okc := ds.float(tag.WindowCenter)
	wd, okw := ds.float(tag.WindowWidth)
	if okc && okw {
		fn := strings.ToUpper(ds.str(tag.VOILUTFunction))
		return windowFunc(fn, c, wd)
	}
	return stretch(full), nil
}

// windowFunc is DICOM's VOI LUT function (PS3.3 C.11.2.1.2), as pydicom's apply_windowing.
func windowFunc(fn string, c, w float64) (func(float64) float64, error) {
	switch fn {
	case "", "LINEAR", "LINEAR_EXACT":
		if fn != "LINEAR_EXACT" {
			if !(w >= 1) {
				return nil, fmt.Errorf("%w: WindowWidth %g (LINEAR needs at least 1): use the minmax or a fixed window", ErrDamaged, w)
			}
			c, w = c-0.5, w-1
		} else if !(w > 0) {
			return nil, fmt.Errorf("%w: WindowWidth %g (LINEAR_EXACT needs more than 0): use the minmax or a fixed window", ErrDamaged, w)
		}
		return func(x float64) float64 {
			switch {
			case x <= c-w/2:
				return 0
			case x > c+w/2:
				return 1
			}
			return (x-c)/w + 0.5
		}, nil
	case "SIGMOID":
		if !(w > 0) {
			return nil, fmt.Errorf("%w: WindowWidth %g (SIGMOID needs more than 0): use the minmax or a fixed window", ErrDamaged, w)
		}
		return func(x float64) float64 { return 1 / (1 + math.Exp(-4*(x-c)/w)) }, nil
	}
	return nil, fmt.Errorf("%w: VOILUTFunction %s (xray reads LINEAR, LINEAR_EXACT and SIGMOID)", ErrUnsupported, fn)
}

// voiLUT is the first item of a VOI LUT Sequence as pydicom's apply_voi reads it: values
// below the first mapped one take entry 0, above the table its last entry; entries are
// scaled by 2^bits-1.
func voiLUT(item *dcmDataset) (func(float64) float64, error) {
	desc := item.ints(tag.LUTDescriptor)
	if len(desc) != 3 {
		return nil, fmt.Errorf("%w: VOI LUT without a 3-value LUTDescriptor", ErrDamaged)
	}
	n, first, bits := desc[0], desc[1], desc[2]
	if n == 0 {
		n = 1 << 16
	}
	if bits != 8 && (bits < 10 || bits > 16) {
		return nil, fmt.Errorf("%w: VOI LUT of %d bits per entry (8 or 10..16 are defined)", ErrUnsupported, bits)
	}
	e := item.elems[tag.LUTData]
	if e == nil {
		return nil, fmt.Errorf("%w: VOI LUT without LUTData", ErrDamaged)
	}
	// LUTData is US or OW: 16-bit words either way, in the dataset's byte order.
	if len(e.value)/2 < n {
		return nil, fmt.Errorf("%w: VOI LUT with %d of its %d entries", ErrDamaged, len(e.value)/2, n)
	}
	top := float64(int(1)<<bits - 1)
	return func(x float64) float64 {
		i := 0
		if x >= float64(first) {
			i = int(min(x-float64(first), float64(n-1)))
		}
		return float64(item.bo.Uint16(e.value[2*i:])) / top
	}, nil
}
