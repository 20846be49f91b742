package loader

import (
	"os"
	"sync"
	"syscall"
)

// window maps chunks of slots on demand and keeps their total within a budget.
type window struct {
	mu         sync.Mutex
	fd         int
	dataOff    int64
	slot       int64
	n          int
	chunkSlots int
	budget     int64
	mapped     int64
	tick       uint64
	chunks     map[int]*chunk
}

type chunk struct {
	mem   []byte // the mapping, from a page boundary at or before the chunk's first slot
	delta int64  // offset of the first slot in mem
	pins  int
	used  uint64
}

func newWindow(f *os.File, dataOff, slot int64, n int, budget int64) *window {
	k := max(1, int(budget/diskChunks/slot))
	return &window{fd: int(f.Fd()), dataOff: dataOff, slot: slot, n: n, chunkSlots: k, budget: budget, chunks: map[int]*chunk{}}
}

// acquire returns slot i's bytes in a mapping, pinned until release; nil when mapping
// it would exceed the budget (every mapped chunk in use) or fails.
func (w *window) acquire(i int) ([]byte, func()) {
	id := i / w.chunkSlots
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.chunks[id]
	if ch == nil {
		if ch = w.mapChunk(id); ch == nil {
			return nil, func() {}
		}
	}
	w.tick++
	ch.pins++
	ch.used = w.tick
	off := ch.delta + int64(i-id*w.chunkSlots)*w.slot
	return ch.mem[off : off+w.slot : off+w.slot], func() {
		w.mu.Lock()
		ch.pins--
		w.mu.Unlock()
	}
}

// mapChunk maps chunk id, unmapping least recently used idle chunks to make room.
func (w *window) mapChunk(id int) *chunk {
	page := int64(os.Getpagesize())
	start := w.dataOff + int64(id*w.chunkSlots)*w.slot
	end := w.dataOff + int64(min((id+1)*w.chunkSlots, w.n))*w.slot
	at := start / page * page
	size := end - at
	for w.mapped+size > w.budget {
		victim := -1
		for cid, c := range w.chunks {
			if c.pins == 0 && (victim < 0 || c.used < w.chunks[victim].used) {
				victim = cid
			}
		}
		if victim < 0 {
			return nil
		}
		w.unmap(victim)
	}
	mem, err := syscall.Mmap(w.fd, at, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	syscall.Madvise(mem, syscall.MADV_RANDOM) // shuffled epochs: read only the touched slot's pages
	ch := &chunk{mem: mem, delta: start - at}
	w.chunks[id] = ch
	w.mapped += size
	return ch
}

func (w *window) unmap(id int) {
	c := w.chunks[id]
	syscall.Munmap(c.mem)
	w.mapped -= int64(len(c.mem))
	delete(w.chunks, id)
}

func (w *window) mappedBytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mapped
}

func (w *window) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.chunks {
		w.unmap(id)
	}
}
