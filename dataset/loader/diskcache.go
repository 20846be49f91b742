package loader

// The on-disk pixel cache: one file per (image list, input size, preprocessing), holding
// every image's resized uint8 pixels in a fixed-size slot, so epochs after the first read
// pixels instead of decoding and a dataset larger than memory streams at cached speed.
//
// File layout (little endian), named pixels-<size>px-<key>.cache in the cache folder:
//
//	header   4096 bytes: magic "XRAYPIX\x00", format version, slot bytes, image count,
//	         the 32-byte key (diskCacheKey), a CRC-32C of the fields before it
//	records  count x 128 bytes, one per image (diskRecord): a valid mark, the source
//	         file's size, mtime, ctime, inode and sha256, the pixels' CRC-32C, and a
//	         CRC-32C over the record and its slot number
//	slots    count x Size*Size*3 bytes from the first page boundary after the records
//
// Write protocol, so that a process killed at any instant (kill -9) never leaves pixels
// that a later run trusts: to fill slot i the writer (1) clears record i's mark, (2)
// writes the pixels, (3) writes record i with its mark. A record counts only with its
// mark and a matching CRC, so a kill before (3) leaves the slot empty and the next run
// decodes it again; a torn record fails its CRC. The header is written to a temporary
// file, sized, and renamed into place, so a half-made file never has a header. The
// pixels' CRC is checked the first time a process reads a slot, which also catches
// pages lost to a power failure (the cache does not fsync). Writers that share a file
// write identical bytes, so two processes on one cache cannot corrupt it.
//
// Reading: a slot is trusted after a cheap check of its source file (size, mtime, ctime
// and inode as recorded, and the manifest's sha256 when it has one); when that differs
// the file is hashed again, and a different sha256 rebuilds the slot. Slots are read
// through memory-mapped chunks whose total size stays within the memory budget (least
// recently used chunks are unmapped), so the cache's resident pages never exceed it; a
// read that finds every chunk in use falls back to pread.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	"github.com/xraylab/xray/dataset"
	"github.com/xraylab/xray/preprocess"
	"google.golang.org/protobuf/proto"
)

const (
	diskMagic      = "XRAYPIX\x00"
	diskVersion    = 1 // bump when the file layout or the Go side of preprocessing (DICOM to gray) changes
	diskHeaderSize = 4096
	diskRecordSize = 128
	diskMark       = 0x544f4c53 // "SLOT"
	// diskChunks is about how many chunks the memory budget is cut into: enough that a
	// shuffled epoch keeps many slots mapped, few enough to stay far below the kernel's
	// limit on mappings (vm.max_map_count, 65530 by default).
	diskChunks = 256
)

// ErrDiskCache is wrapped by errors about the on-disk pixel cache (its folder or file).
var ErrDiskCache = errors.New("pixel cache")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// testHookPixelsWritten, when set (tests only), runs after a slot's pixels are written
// (n bytes at off in f) and before its record is: the moment a kill leaves a slot
// half-made.
var testHookPixelsWritten func(f *os.File, slot int, off, n int64)

// Slot states in memory.
const (
	slotUnchecked uint32 = iota // record valid on disk, source not yet checked this process
	slotValid                   // checked: read the pixels
	slotEmpty                   // no valid record: decode and write
)

// diskCache is an open pixel cache file.
type diskCache struct {
	f       *os.File
	path    string
	slot    int64 // bytes per slot
	dataOff int64
	state   []atomic.Uint32
	win     *window
	found   int          // valid records at open
	filled  atomic.Int64 // slots written by this process
}

// diskCacheKey identifies what a cache file holds: the format, the preprocessing that
// makes the pixels (its graph for this size, which changes with any change to decoding
// or resizing, and the DICOM window, applied in Go before it) and the image list in order.
func diskCacheKey(p preprocess.Preprocessor, entries []dataset.Entry) ([32]byte, error) {
	p.Scaling = preprocess.Unit // scaling happens after the cache
	raw, err := p.GraphDef()
	if err != nil {
		return [32]byte{}, err
	}
	// TensorFlow serializes attribute maps in no fixed order: re-encode deterministically.
	var gd gpb.GraphDef
	if err := proto.Unmarshal(raw, &gd); err != nil {
		return [32]byte{}, err
	}
	g, err := proto.MarshalOptions{Deterministic: true}.Marshal(&gd)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s%d\nsize %d\nwindow %d %v %v\ngraph %x\n", diskMagic, diskVersion, p.Size, p.Window.Mode, p.Window.Center, p.Window.Width, sha256.Sum256(g))
	for _, e := range entries {
		h.Write([]byte(e.Path))
		h.Write([]byte{0})
	}
	return [32]byte(h.Sum(nil)), nil
}

func diskHeader(key [32]byte, slot int64, n int) []byte {
	b := make([]byte, diskHeaderSize)
	copy(b, diskMagic)
	binary.LittleEndian.PutUint32(b[8:], diskVersion)
	binary.LittleEndian.PutUint64(b[12:], uint64(slot))
	binary.LittleEndian.PutUint64(b[20:], uint64(n))
	copy(b[28:60], key[:])
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

// openDiskCache opens (or makes) the cache file for entries under dir; budget bounds the
// bytes mapped at once.
func openDiskCache(dir string, p preprocess.Preprocessor, entries []dataset.Entry, budget int64) (*diskCache, error) {
	key, err := diskCacheKey(p, entries)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w folder: %w (choose a writable folder)", ErrDiskCache, err)
	}
	n, slot := len(entries), int64(p.Len())
	page := int64(os.Getpagesize())
	dataOff := (diskHeaderSize + int64(n)*diskRecordSize + page - 1) / page * page
	c := &diskCache{path: filepath.Join(dir, fmt.Sprintf("pixels-%dpx-%x.cache", p.Size, key[:8])),
		slot: slot, dataOff: dataOff, state: make([]atomic.Uint32, n)}
	want := diskHeader(key, slot, n)
	if c.f, err = openCacheFile(c.path, want, dataOff+int64(n)*slot); err != nil {
		return nil, err
	}
	if err := c.scan(); err != nil {
		c.f.Close()
		return nil, err
	}
	c.win = newWindow(c.f, dataOff, slot, n, budget)
	return c, nil
}

// openCacheFile opens path when its header is want and its size total; otherwise it
// makes the file anew (header written, then renamed into place).
func openCacheFile(path string, want []byte, total int64) (*os.File, error) {
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		got := make([]byte, len(want))
		fi, serr := f.Stat()
		if _, rerr := f.ReadAt(got, 0); rerr == nil && serr == nil && fi.Size() == total && string(got) == string(want) {
			return f, nil
		}
		f.Close()
	}
	removeStaleTemps(filepath.Dir(path))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pixels-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w (choose a writable folder)", ErrDiskCache, path, err)
	}
	_, err = tmp.WriteAt(want, 0)
	if err == nil {
		err = tmp.Truncate(total) // sparse: slots take disk space as they are filled
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("%w %s: %w", ErrDiskCache, path, err)
	}
	return tmp, nil
}

// removeStaleTemps deletes half-made cache files that a process killed while making one
// left behind (an hour old: one being made now is younger).
func removeStaleTemps(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, ".pixels-*.tmp"))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(p)
		}
	}
}

// scan marks each slot unchecked (a valid record) or empty.
func (c *diskCache) scan() error {
	const block = 4096
	buf := make([]byte, block*diskRecordSize)
	for first := 0; first < len(c.state); first += block {
		k := min(block, len(c.state)-first)
		if _, err := c.f.ReadAt(buf[:k*diskRecordSize], diskHeaderSize+int64(first)*diskRecordSize); err != nil {
			return fmt.Errorf("%w %s: %w", ErrDiskCache, c.path, err)
		}
		for j := range k {
			if _, ok := decodeRecord(buf[j*diskRecordSize:(j+1)*diskRecordSize], first+j); ok {
				c.found++
				continue
			}
			c.state[first+j].Store(slotEmpty)
		}
	}
	return nil
}

func (c *diskCache) record(i int) (diskRecord, bool) {
	b := make([]byte, diskRecordSize)
	if _, err := c.f.ReadAt(b, diskHeaderSize+int64(i)*diskRecordSize); err != nil {
		return diskRecord{}, false
	}
	return decodeRecord(b, i)
}

func (c *diskCache) writeRecord(i int, b []byte) error {
	_, err := c.f.WriteAt(b, diskHeaderSize+int64(i)*diskRecordSize)
	return err
}

// write fills slot i with pix, made from a file with stamp fi and sha256 sum.
func (c *diskCache) write(i int, pix []uint8, fi os.FileInfo, sum [32]byte) error {
	if int64(len(pix)) != c.slot {
		return fmt.Errorf("%w %s: %d bytes of pixels for a slot of %d", ErrDiskCache, c.path, len(pix), c.slot)
	}
	c.state[i].Store(slotEmpty)
	err := c.writeRecord(i, make([]byte, diskRecordSize)) // (1) clear the mark
	if err == nil {
		_, err = c.f.WriteAt(pix, c.dataOff+int64(i)*c.slot) // (2) the pixels
	}
	if err == nil && testHookPixelsWritten != nil {
		testHookPixelsWritten(c.f, i, c.dataOff+int64(i)*c.slot, c.slot)
	}
	if err == nil {
		r := diskRecord{sha: sum, crc: crc32.Checksum(pix, castagnoli)}
		r.size, r.mtime, r.ctime, r.ino = fileStamp(fi)
		err = c.writeRecord(i, r.encode(i)) // (3) the record with its mark
	}
	if err != nil {
		return fmt.Errorf("%w %s: write: %w (free disk space or choose another cache folder)", ErrDiskCache, c.path, err)
	}
	c.state[i].Store(slotValid)
	c.filled.Add(1)
	return nil
}

// read passes slot i's pixels to use, from a mapped chunk or a pread buffer.
func (c *diskCache) read(i int, use func([]uint8) error) error {
	pix, release := c.win.acquire(i)
	if pix == nil {
		pix = make([]uint8, c.slot)
		if _, err := c.f.ReadAt(pix, c.dataOff+int64(i)*c.slot); err != nil { // io.EOF: the file was cut short
			return fmt.Errorf("%w %s: %w", ErrDiskCache, c.path, err)
		}
	}
	defer release()
	return use(pix)
}

// pixelsOK checks slot i's pixels against the record's CRC.
func (c *diskCache) pixelsOK(i int, r diskRecord) bool {
	ok := false
	c.read(i, func(pix []uint8) error { ok = crc32.Checksum(pix, castagnoli) == r.crc; return nil })
	return ok
}

// Close unmaps the chunks and closes the file.
func (c *diskCache) Close() error {
	c.win.close()
	return c.f.Close()
}

// DiskCacheStats describes a loader's on-disk pixel cache (zero without one).
type DiskCacheStats struct {
	Path   string // the cache file
	Images int    // slots in the file
	Found  int    // images with a complete slot when the file was opened
	Filled int64  // slots (re)written by this loader: new, changed or half-written images
	Mapped int64  // bytes mapped now (at most the memory budget)
}

// String is one line for a log: the file and how much of it was already there.
func (s DiskCacheStats) String() string {
	if s.Path == "" {
		return "no disk cache"
	}
	return s.Path + ": " + strconv.Itoa(s.Found) + " of " + strconv.Itoa(s.Images) + " images cached when opened"
}

// hexSum is a manifest-style sha256.
func hexSum(s [32]byte) string { return hex.EncodeToString(s[:]) }

// load passes entry e's (slot i's) pixels to use: from the slot when it is complete and
// its source unchanged, else from src's bytes through decode, written to the slot first.
func (c *diskCache) load(i int, e dataset.Entry, root string, src func() ([]byte, error), decode func([]byte) ([]uint8, error), use func([]uint8) error) error {
	switch c.state[i].Load() {
	case slotValid:
		return c.read(i, use)
	case slotUnchecked:
		ok, err := c.check(i, e, root, src)
		if err != nil {
			return err
		}
		if ok {
			c.state[i].Store(slotValid)
			return c.read(i, use)
		}
	}
	fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(e.Path)))
	if err != nil {
		return fmt.Errorf("load image: %w (is the manifest's data root right?)", err)
	}
	b, err := src()
	if err != nil {
		return err
	}
	pix, err := decode(b)
	if err != nil {
		return err
	}
	if err := c.write(i, pix, fi, sha256.Sum256(b)); err != nil {
		return err
	}
	return use(pix)
}

// check reports whether slot i, whose record was valid at open, still holds e's pixels:
// the source's stamp as recorded (and the manifest's sha256, when it has one, the
// recorded one), else the same sha256 read again (the record then takes the new stamp).
// Either way the pixels must match their CRC.
func (c *diskCache) check(i int, e dataset.Entry, root string, src func() ([]byte, error)) (bool, error) {
	r, ok := c.record(i)
	if !ok {
		return false, nil
	}
	fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(e.Path)))
	if err != nil {
		return false, fmt.Errorf("load image: %w (is the manifest's data root right?)", err)
	}
	var now diskRecord
	now.size, now.mtime, now.ctime, now.ino = fileStamp(fi)
	if now.size == r.size && now.mtime == r.mtime && now.ctime == r.ctime && now.ino == r.ino && (e.SHA256 == "" || e.SHA256 == hexSum(r.sha)) {
		return c.pixelsOK(i, r), nil
	}
	b, err := src()
	if err != nil {
		return false, err
	}
	if sha256.Sum256(b) != r.sha || !c.pixelsOK(i, r) {
		return false, nil
	}
	now.sha, now.crc = r.sha, r.crc
	if err := c.writeRecord(i, now.encode(i)); err != nil {
		return false, fmt.Errorf("%w %s: write: %w", ErrDiskCache, c.path, err)
	}
	return true, nil
}
