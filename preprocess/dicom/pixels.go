package dicom

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"

	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
	"github.com/xraylab/xray/internal/jpegcolor"
)

// frameSamples reads the stored values of one monochrome frame.
type frameSamples struct {
	raw    []byte
	bytes  int // per sample: 1, 2 or 4
	bo     binary.ByteOrder
	bits   int // BitsStored: the low bits of each sample
	signed bool
}

func (f *frameSamples) len() int { return len(f.raw) / f.bytes }

func (f *frameSamples) value(i int) int {
	var v uint32
	switch f.bytes {
	case 1:
		v = uint32(f.raw[i])
	case 2:
		v = uint32(f.bo.Uint16(f.raw[2*i:]))
	default:
		v = f.bo.Uint32(f.raw[4*i:])
	}
	v &= uint32(1<<f.bits - 1)
	if f.signed && v&(1<<(f.bits-1)) != 0 {
		return int(v) - 1<<f.bits
	}
	return int(v)
}

// pixelDesc is the image pixel module: how the samples are laid out.
type pixelDesc struct {
	spp, alloc, stored, rep, planar int
}

// dicomSamples is the first frame before windowing: stored monochrome values, or for
// colour the gray levels of the luma rule (colourGray).
type dicomSamples struct {
	ds   *dcmDataset
	info Info
	mono *frameSamples
	rgb  []uint8 // colour: gray levels, one per pixel
}

// decodeDICOMSamples parses a file and decodes its first frame (the test hook that
// compares xray's pixels with pydicom's pixel_array).
func decodeDICOMSamples(b []byte) (*dicomSamples, Info, error) {
	f, err := parseDICOMFile(b)
	if err != nil {
		return nil, Info{TransferSyntax: fileTS(f)}, err
	}
	info := dicomInfo(f)
	if err := checkImage(f.ds, info); err != nil {
		return nil, info, err
	}
	d, err := pixelDescription(f.ds, info)
	if err != nil {
		return nil, info, err
	}
	raw, pi, err := frameBytes(f, info, d)
	if err != nil {
		return nil, info, err
	}
	s := &dicomSamples{ds: f.ds, info: info}
	if d.spp == 3 {
		s.rgb, err = colourGray(raw, info.Rows*info.Columns, pi, d.planar)
		return s, info, err
	}
	s.mono = &frameSamples{raw: raw, bytes: max(1, d.alloc/8), bo: binary.LittleEndian, bits: d.stored, signed: d.rep == 1}
	if f.ts == transferBigEndian {
		s.mono.bo = binary.BigEndian
	}
	return s, info, nil
}

// checkImage refuses what is not an image xray can window.
func checkImage(ds *dcmDataset, info Info) error {
	if !info.HasPixels {
		return noPixels(info)
	}
	if info.Rows <= 0 || info.Columns <= 0 || int64(info.Rows)*int64(info.Columns) > MaxPixels {
		return fmt.Errorf("%w: %d x %d pixels in the header: outside 1..%d pixels", ErrDamaged, info.Columns, info.Rows, MaxPixels)
	}
	if info.Frames < 1 {
		return fmt.Errorf("%w: NumberOfFrames %d", ErrDamaged, info.Frames)
	}
	if ds.has(tag.ModalityLUTSequence) {
		return fmt.Errorf("%w: a Modality LUT Sequence (only RescaleSlope/RescaleIntercept are applied)", ErrUnsupported)
	}
	return nil
}

// noPixels is the error for a file without pixel data: a *NoImageError when it has no
// image pixel module either (an SR, an RT plan), else ErrDamaged (an image that lost them).
func noPixels(info Info) error {
	if info.Rows != 0 || info.Columns != 0 {
		return fmt.Errorf("%w: no pixel data (7FE0,0010)", ErrDamaged)
	}
	name := ""
	if u, err := uid.Lookup(info.SOPClassUID); err == nil {
		name = u.Name
	}
	return &NoImageError{SOPClassUID: info.SOPClassUID, Name: name}
}

// pixelDescription reads and checks the image pixel module.
func pixelDescription(ds *dcmDataset, info Info) (pixelDesc, error) {
	var d pixelDesc
	var ok bool
	if d.alloc, ok = ds.integer(tag.BitsAllocated); !ok {
		return d, fmt.Errorf("%w: no BitsAllocated (0028,0100)", ErrDamaged)
	}
	if d.stored, ok = ds.integer(tag.BitsStored); !ok || d.stored == 0 {
		d.stored = d.alloc
	}
	if d.spp, ok = ds.integer(tag.SamplesPerPixel); !ok {
		d.spp = 1
	}
	d.rep, _ = ds.integer(tag.PixelRepresentation)
	d.planar, _ = ds.integer(tag.PlanarConfiguration)
	switch {
	case d.alloc != 1 && d.alloc != 8 && d.alloc != 16 && d.alloc != 32:
		return d, fmt.Errorf("%w: BitsAllocated %d (xray reads 1, 8, 16 and 32)", ErrUnsupported, d.alloc)
	case d.stored < 1 || d.stored > d.alloc:
		return d, fmt.Errorf("%w: BitsStored %d with BitsAllocated %d", ErrDamaged, d.stored, d.alloc)
	}
	switch info.Photometric {
	case "MONOCHROME1", "MONOCHROME2", "":
		if d.spp != 1 {
			return d, fmt.Errorf("%w: %d samples per pixel in a %s image", ErrDamaged, d.spp, info.Photometric)
		}
	case "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT":
		if d.spp != 3 || d.alloc != 8 {
			return d, fmt.Errorf("%w: %s with %d samples of %d bits (xray reads 8-bit colour)", ErrUnsupported, info.Photometric, d.spp, d.alloc)
		}
	default:
		return d, fmt.Errorf("%w: photometric interpretation %s (xray reads MONOCHROME1, MONOCHROME2, RGB and YBR_FULL)", ErrUnsupported, info.Photometric)
	}
	return d, nil
}

// nativeFrame checks uncompressed pixel data against the header and returns frame 0.
func nativeFrame(raw []byte, info Info, d pixelDesc, n int64, bigEndianOW8 bool) ([]byte, string, error) {
	frame := n * int64(d.spp) * int64(d.alloc) / 8
	if info.Photometric == "YBR_FULL_422" { // two Y, one Cb, one Cr per pair of pixels
		frame = n * 2
	}
	need := frame * int64(info.Frames)
	if d.alloc == 1 {
		frame, need = (n+7)/8, (n*int64(info.Frames)+7)/8
	}
	if int64(len(raw)) < need {
		return nil, "", fmt.Errorf("%w: pixel data holds %d bytes, the header's %d x %d x %d frames of %d bits need %d",
			ErrDamaged, len(raw), info.Columns, info.Rows, info.Frames, d.alloc, need)
	}
	if bigEndianOW8 { // 8-bit samples in big endian OW words: swap each pair back
		swapped := make([]byte, (frame+1)&^1)
		for i := 0; i+1 < len(swapped) && i+1 < len(raw); i += 2 {
			swapped[i], swapped[i+1] = raw[i+1], raw[i]
		}
		raw = swapped
	}
	raw = raw[:frame]
	switch {
	case d.alloc == 1: // PS3.5 8.1.1: the first pixel in the lowest bit
		out := make([]byte, n)
		for i := range out {
			out[i] = raw[i/8] >> (i % 8) & 1
		}
		return out, info.Photometric, nil
	case info.Photometric == "YBR_FULL_422":
		return upsample422(raw), "YBR_FULL", nil
	}
	return raw, info.Photometric, nil
}

// upsample422 expands YBR_FULL_422 (Y1 Y2 Cb Cr per pair) to YBR_FULL, each chroma
// sample serving both pixels, as pydicom does.
func upsample422(raw []byte) []byte {
	out := make([]byte, 0, len(raw)/2*3)
	for i := 0; i+4 <= len(raw); i += 4 {
		out = append(out, raw[i], raw[i+2], raw[i+3], raw[i+1], raw[i+2], raw[i+3])
	}
	return out
}

// colourGray turns an 8-bit colour frame into gray by one rule for every source: to RGB
// by the photometric interpretation the samples are in (YBR_FULL by PS3.3 C.7.6.3.1.2,
// with libjpeg's tables; YBR_RCT and YBR_ICT come out of JPEG 2000 decoders as RGB), then
// ITU-R BT.601 luma rounded as PIL's convert("L"): (19595 R + 38470 G + 7471 B + 2^15) >> 16.
func colourGray(raw []byte, n int, pi string, planar int) ([]uint8, error) {
	if len(raw) < 3*n {
		return nil, fmt.Errorf("%w: colour frame of %d bytes, %d pixels need %d", ErrDamaged, len(raw), n, 3*n)
	}
	at := func(i, c int) int32 { return int32(raw[3*i+c]) }
	if planar == 1 {
		at = func(i, c int) int32 { return int32(raw[c*n+i]) }
	}
	out := make([]uint8, n)
	for i := range out {
		r, g, b := at(i, 0), at(i, 1), at(i, 2)
		if pi == "YBR_FULL" {
			r8, g8, b8 := jpegcolor.YCbCrToRGB(uint8(r), uint8(g), uint8(b))
			r, g, b = int32(r8), int32(g8), int32(b8)
		}
		out[i] = uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
	}
	return out, nil
}

// gray windows the samples to 8-bit gray (colour frames are already gray).
func (s *dicomSamples) gray(w Window) (*image.Gray, error) {
	g := image.NewGray(image.Rect(0, 0, s.info.Columns, s.info.Rows))
	if s.rgb != nil {
		copy(g.Pix, s.rgb)
		return g, nil
	}
	level, err := newGrayMapping(s.ds, s.info, w, s.mono)
	if err != nil {
		return nil, err
	}
	for i := range g.Pix {
		g.Pix[i] = level(s.mono.value(i))
	}
	return g, nil
}

// newGrayMapping maps a stored value to its output level: modality LUT (rescale), the VOI
// step w chooses, rounding to 0..255, MONOCHROME1 inversion; through a table over the
// frame's range of values when that range is small.
func newGrayMapping(ds *dcmDataset, info Info, w Window, src *frameSamples) (func(int) uint8, error) {
	lo, hi := math.MaxInt, math.MinInt
	for i := range src.len() {
		v := src.value(i)
		lo, hi = min(lo, v), max(hi, v)
	}
	slope, ok := ds.float(tag.RescaleSlope)
	if !ok || slope == 0 {
		slope = 1
	}
	intercept, _ := ds.float(tag.RescaleIntercept)
	modality := func(v int) float64 { return float64(v)*slope + intercept }
	full := [2]float64{modality(0), modality(1<<src.bits - 1)}
	if src.signed {
		full = [2]float64{modality(-1 << (src.bits - 1)), modality(1<<(src.bits-1) - 1)}
	}
	voi, err := voiFunc(ds, w, [2]float64{modality(lo), modality(hi)}, full)
	if err != nil {
		return nil, err
	}
	level := func(v int) uint8 {
		l := math.Floor(voi(modality(v))*255 + 0.5)
		l = max(0, min(255, l))
		if info.Photometric == "MONOCHROME1" {
			l = 255 - l
		}
		return uint8(l)
	}
	if hi-lo > 1<<20 {
		return level, nil
	}
	lut := make([]uint8, hi-lo+1)
	for v := lo; v <= hi; v++ {
		lut[v-lo] = level(v)
	}
	return func(v int) uint8 { return lut[v-lo] }, nil
}
