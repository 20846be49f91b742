package loader

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"syscall"
)

// diskRecord is one slot's record.
type diskRecord struct {
	size, mtime, ctime int64
	ino                uint64
	sha                [32]byte
	crc                uint32 // of the pixels
}

func (r diskRecord) encode(slot int) []byte {
	b := make([]byte, diskRecordSize)
	binary.LittleEndian.PutUint32(b[0:], diskMark)
	binary.LittleEndian.PutUint32(b[4:], r.crc)
	binary.LittleEndian.PutUint64(b[8:], uint64(r.size))
	binary.LittleEndian.PutUint64(b[16:], uint64(r.mtime))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.ctime))
	binary.LittleEndian.PutUint64(b[32:], r.ino)
	copy(b[40:72], r.sha[:])
	binary.LittleEndian.PutUint64(b[72:], uint64(slot))
	binary.LittleEndian.PutUint32(b[80:], crc32.Checksum(b[:80], castagnoli))
	return b
}

func decodeRecord(b []byte, slot int) (diskRecord, bool) {
	if binary.LittleEndian.Uint32(b[0:]) != diskMark || binary.LittleEndian.Uint64(b[72:]) != uint64(slot) ||
		binary.LittleEndian.Uint32(b[80:]) != crc32.Checksum(b[:80], castagnoli) {
		return diskRecord{}, false
	}
	r := diskRecord{crc: binary.LittleEndian.Uint32(b[4:]), size: int64(binary.LittleEndian.Uint64(b[8:])),
		mtime: int64(binary.LittleEndian.Uint64(b[16:])), ctime: int64(binary.LittleEndian.Uint64(b[24:])),
		ino: binary.LittleEndian.Uint64(b[32:])}
	copy(r.sha[:], b[40:72])
	return r, true
}

// fileStamp is the cheap identity of a source file: size, mtime, ctime, inode.
func fileStamp(fi os.FileInfo) (size, mtime, ctime int64, ino uint64) {
	size, mtime = fi.Size(), fi.ModTime().UnixNano()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ctime, ino = st.Ctim.Nano(), st.Ino
	}
	return size, mtime, ctime, ino
}
