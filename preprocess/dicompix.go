package preprocess

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// frameSamples reads the stored values of one frame of native (uncompressed) pixels.
type frameSamples struct {
	raw    []byte
	bytes  int // per sample: 1 or 2
	bo     binary.ByteOrder
	bits   int // BitsStored: the low bits of each sample
	signed bool
}

func (f *frameSamples) value(i int) int {
	var v uint32
	if f.bytes == 1 {
		v = uint32(f.raw[i])
	} else {
		v = uint32(f.bo.Uint16(f.raw[2*i:]))
	}
	v &= 1<<f.bits - 1
	if f.signed && v&(1<<(f.bits-1)) != 0 {
		return int(v) - 1<<f.bits
	}
	return int(v)
}

// dicomPixels turns the first frame into 8-bit gray (or RGB for a colour JPEG frame).
func dicomPixels(ds *dicom.Dataset, info DICOMInfo, w Window) (image.Image, error) {
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, fmt.Errorf("%w: no pixel data (7FE0,0010)", ErrDICOM)
	}
	pd, ok := e.Value.GetValue().(dicom.PixelDataInfo)
	if !ok {
		return nil, fmt.Errorf("%w: pixel data of an unexpected kind", ErrDICOM)
	}
	if info.Rows <= 0 || info.Columns <= 0 || int64(info.Rows)*int64(info.Columns) > MaxPixels {
		return nil, fmt.Errorf("%w: %d x %d pixels in the header: outside 1..%d pixels", ErrDICOM, info.Columns, info.Rows, MaxPixels)
	}
	if info.Frames < 1 {
		return nil, fmt.Errorf("%w: NumberOfFrames %d", ErrDICOM, info.Frames)
	}
	if _, err := ds.FindElementByTag(tag.ModalityLUTSequence); err == nil {
		return nil, fmt.Errorf("%w: a Modality LUT Sequence (only RescaleSlope/RescaleIntercept are applied)", ErrDICOMUnsupported)
	}
	var src *frameSamples
	if pd.IsEncapsulated {
		img, err := jpegFrame(pd, info)
		if err != nil {
			return nil, err
		}
		g, ok := img.(*image.Gray)
		if !ok {
			return img, nil // a colour JPEG: RGB, no windowing
		}
		src = &frameSamples{raw: g.Pix, bytes: 1, bits: 8}
	} else if src, err = nativeFrame(ds, pd, info); err != nil {
		return nil, err
	}
	switch info.Photometric {
	case "MONOCHROME1", "MONOCHROME2", "":
	default:
		return nil, fmt.Errorf("%w: photometric interpretation %s (xray reads MONOCHROME1 and MONOCHROME2)", ErrDICOMUnsupported, info.Photometric)
	}
	m, err := newGrayMapping(ds, info, w, src)
	if err != nil {
		return nil, err
	}
	g := image.NewGray(image.Rect(0, 0, info.Columns, info.Rows))
	for i := range g.Pix {
		g.Pix[i] = m.lut[src.value(i)-m.base]
	}
	return g, nil
}

// nativeFrame checks the pixel description against the data and returns frame 0.
func nativeFrame(ds *dicom.Dataset, pd dicom.PixelDataInfo, info DICOMInfo) (*frameSamples, error) {
	alloc, _ := dicomInt(ds, tag.BitsAllocated)
	stored, ok := dicomInt(ds, tag.BitsStored)
	if !ok || stored == 0 {
		stored = alloc
	}
	spp, ok := dicomInt(ds, tag.SamplesPerPixel)
	if !ok {
		spp = 1
	}
	if spp != 1 {
		return nil, fmt.Errorf("%w: %d samples per pixel (xray reads grayscale)", ErrDICOMUnsupported, spp)
	}
	if alloc != 8 && alloc != 16 {
		return nil, fmt.Errorf("%w: BitsAllocated %d (xray reads 8 and 16)", ErrDICOMUnsupported, alloc)
	}
	if stored < 1 || stored > alloc {
		return nil, fmt.Errorf("%w: BitsStored %d with BitsAllocated %d", ErrDICOM, stored, alloc)
	}
	rep, _ := dicomInt(ds, tag.PixelRepresentation)
	f := &frameSamples{raw: pd.UnprocessedValueData, bytes: alloc / 8, bo: binary.LittleEndian, bits: stored, signed: rep == 1}
	if info.TransferSyntax == transferBigEndian {
		f.bo = binary.BigEndian
	}
	frame := int64(info.Rows) * int64(info.Columns) * int64(f.bytes)
	if have := int64(len(f.raw)); have/frame < int64(info.Frames) {
		return nil, fmt.Errorf("%w: pixel data holds %d bytes, the header's %d x %d x %d frames of %d bits need %d",
			ErrDICOM, have, info.Columns, info.Rows, info.Frames, alloc, frame*int64(info.Frames))
	}
	f.raw = f.raw[:frame]
	return f, nil
}

// jpegFrame decodes the first frame of JPEG baseline pixel data with Decode's JPEG path.
// A frame may span several fragments; it ends with the fragment that ends in EOI.
func jpegFrame(pd dicom.PixelDataInfo, info DICOMInfo) (image.Image, error) {
	var data []byte
	for _, fr := range pd.Frames {
		d := fr.EncapsulatedData.Data
		data = append(data, d...)
		if info.Frames > 1 && bytes.HasSuffix(bytes.TrimRight(d, "\x00"), jpegEOI) {
			break
		}
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no pixel data fragments", ErrDICOM)
	}
	if format(data) != "jpeg" {
		return nil, fmt.Errorf("%w: the JPEG baseline pixel data does not start with a JPEG marker", ErrDICOM)
	}
	// Sizes first: the JPEG header must not make the decoder allocate more than the
	// DICOM header announced.
	if _, w, h, err := Config(data); err != nil || w != info.Columns || h != info.Rows {
		if err != nil {
			return nil, fmt.Errorf("%w: pixel data: %v", ErrDICOM, err)
		}
		return nil, fmt.Errorf("%w: the JPEG frame is %d x %d pixels, the header says %d x %d", ErrDICOM, w, h, info.Columns, info.Rows)
	}
	img, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: pixel data: %v", ErrDICOM, err)
	}
	return img, nil
}

var jpegEOI = []byte{0xFF, 0xD9}

// grayMapping is a lookup table from stored value (minus base) to the output level.
type grayMapping struct {
	lut  []uint8
	base int
}

// newGrayMapping builds the table over the frame's range of stored values: modality LUT
// (rescale), the VOI step w chooses, rounding to 0..255, MONOCHROME1 inversion.
func newGrayMapping(ds *dicom.Dataset, info DICOMInfo, w Window, src *frameSamples) (*grayMapping, error) {
	n := len(src.raw) / src.bytes
	lo, hi := math.MaxInt, math.MinInt
	for i := range n {
		v := src.value(i)
		lo, hi = min(lo, v), max(hi, v)
	}
	slope, ok := dicomFloat(ds, tag.RescaleSlope)
	if !ok || slope == 0 {
		slope = 1
	}
	intercept, _ := dicomFloat(ds, tag.RescaleIntercept)
	modality := func(v int) float64 { return float64(v)*slope + intercept }
	full := [2]float64{modality(0), modality(1<<src.bits - 1)}
	if src.signed {
		full = [2]float64{modality(-1 << (src.bits - 1)), modality(1<<(src.bits-1) - 1)}
	}
	voi, err := voiFunc(ds, w, [2]float64{modality(lo), modality(hi)}, full)
	if err != nil {
		return nil, err
	}
	m := &grayMapping{lut: make([]uint8, hi-lo+1), base: lo}
	for v := lo; v <= hi; v++ {
		l := math.Floor(voi(modality(v))*255 + 0.5)
		l = max(0, min(255, l))
		if info.Photometric == "MONOCHROME1" {
			l = 255 - l
		}
		m.lut[v-lo] = uint8(l)
	}
	return m, nil
}

// voiFunc returns the VOI step as a map to 0..1 (0 black, 1 white before inversion).
// image holds the modality values of the image's smallest and largest stored values, full
// those of the smallest and largest BitsStored allows.
func voiFunc(ds *dicom.Dataset, w Window, image, full [2]float64) (func(float64) float64, error) {
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
	if seq, err := ds.FindElementByTag(tag.VOILUTSequence); err == nil {
		return voiLUT(seq)
	}
	c, okc := dicomFloat(ds, tag.WindowCenter)
	wd, okw := dicomFloat(ds, tag.WindowWidth)
	if okc && okw {
		fn := strings.ToUpper(dicomString(ds, tag.VOILUTFunction))
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
				return nil, fmt.Errorf("%w: WindowWidth %g (LINEAR needs at least 1): use the minmax or a fixed window", ErrDICOM, w)
			}
			c, w = c-0.5, w-1
		} else if !(w > 0) {
			return nil, fmt.Errorf("%w: WindowWidth %g (LINEAR_EXACT needs more than 0): use the minmax or a fixed window", ErrDICOM, w)
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
			return nil, fmt.Errorf("%w: WindowWidth %g (SIGMOID needs more than 0): use the minmax or a fixed window", ErrDICOM, w)
		}
		return func(x float64) float64 { return 1 / (1 + math.Exp(-4*(x-c)/w)) }, nil
	}
	return nil, fmt.Errorf("%w: VOILUTFunction %s (xray reads LINEAR, LINEAR_EXACT and SIGMOID)", ErrDICOMUnsupported, fn)
}

// voiLUT is the first item of a VOI LUT Sequence as pydicom's apply_voi reads it: values
// below the first mapped one take entry 0, above the table its last entry; entries are
// scaled by 2^bits-1.
func voiLUT(seq *dicom.Element) (func(float64) float64, error) {
	items, ok := seq.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok || len(items) == 0 {
		return nil, fmt.Errorf("%w: empty VOI LUT Sequence", ErrDICOM)
	}
	item := dicom.Dataset{Elements: items[0].GetValue().([]*dicom.Element)}
	e, err := item.FindElementByTag(tag.LUTDescriptor)
	desc, ok := []int(nil), false
	if err == nil {
		desc, ok = e.Value.GetValue().([]int)
	}
	if !ok || len(desc) != 3 {
		return nil, fmt.Errorf("%w: VOI LUT without a 3-value LUTDescriptor", ErrDICOM)
	}
	n, first, bits := desc[0], desc[1], desc[2]
	if n == 0 {
		n = 1 << 16
	}
	if bits != 8 && (bits < 10 || bits > 16) {
		return nil, fmt.Errorf("%w: VOI LUT of %d bits per entry (8 or 10..16 are defined)", ErrDICOMUnsupported, bits)
	}
	data, err := lutData(&item, n)
	if err != nil {
		return nil, err
	}
	top := float64(int(1)<<bits - 1)
	return func(x float64) float64 {
		i := 0
		if x >= float64(first) {
			i = int(min(x-float64(first), float64(n-1)))
		}
		return float64(data[i]) / top
	}, nil
}

// lutData reads n LUT entries, stored as US values or OW words (little endian: the
// library converts OW to it).
func lutData(item *dicom.Dataset, n int) ([]int, error) {
	e, err := item.FindElementByTag(tag.LUTData)
	if err != nil {
		return nil, fmt.Errorf("%w: VOI LUT without LUTData", ErrDICOM)
	}
	var data []int
	switch v := e.Value.GetValue().(type) {
	case []int:
		data = v
	case []byte:
		for i := 0; i+1 < len(v); i += 2 {
			data = append(data, int(binary.LittleEndian.Uint16(v[i:])))
		}
	default:
		return nil, fmt.Errorf("%w: VOI LUT data of VR %s (implicit VR files: only windows are read)", ErrDICOMUnsupported, e.RawValueRepresentation)
	}
	if len(data) < n {
		return nil, fmt.Errorf("%w: VOI LUT with %d of its %d entries", ErrDICOM, len(data), n)
	}
	return data, nil
}
