package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	"github.com/xraylab/xray/internal/atomicfile"
)

// A checkpoint file holds everything a killed run needs to continue as if never stopped:
// every variable (model weights, BN statistics, optimizer slots) and the loop's State.
//
//	"XRAYCKPT1\n" | uint64 header length | header JSON | float32 data (little endian) | sha256 of all before
//
// The trailing digest makes a truncated or corrupt file detectable, so resume falls back
// to the previous checkpoint instead of loading garbage.
const ckptMagic = "XRAYCKPT1\n"

type ckptTensor struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
}

type ckptHeader struct {
	State   State        `json:"state"`
	Tensors []ckptTensor `json:"tensors"`
}

// Write writes path atomically: a temp file in the same directory, synced, then
// renamed over path, so a kill at any moment leaves either the old file or the new one.
func Write(path string, st State, tensors map[string]*tf.Tensor) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	hdr := ckptHeader{State: st}
	for _, n := range names {
		if tensors[n].DataType() != tf.Float {
			return fmt.Errorf("write checkpoint %s: %s is %v, not float32", path, n, tensors[n].DataType())
		}
		hdr.Tensors = append(hdr.Tensors, ckptTensor{Name: n, Shape: tensors[n].Shape()})
	}
	hj, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(f io.Writer) error {
		h := sha256.New()
		w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
		w.WriteString(ckptMagic)
		binary.Write(w, binary.LittleEndian, uint64(len(hj)))
		w.Write(hj)
		for _, n := range names {
			// TensorFlow's own little-endian float32 buffer, written as is.
			if _, err := tensors[n].WriteContentsTo(w); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err := f.Write(h.Sum(nil))
		return err
	})
}

// ErrCorrupt marks a checkpoint that fails its digest or structure check.
var ErrCorrupt = errors.New("corrupt or truncated checkpoint")

// Read reads and verifies a checkpoint; a damaged file fails with ErrCorrupt.
func Read(path string) (State, map[string]*tf.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, nil, err
	}
	fail := func(why string) (State, map[string]*tf.Tensor, error) {
		return State{}, nil, fmt.Errorf("checkpoint %s: %w (%s)", path, ErrCorrupt, why)
	}
	if len(b) < len(ckptMagic)+8+sha256.Size || string(b[:len(ckptMagic)]) != ckptMagic {
		return fail("bad header")
	}
	body, digest := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], digest) {
		return fail("digest mismatch")
	}
	r := body[len(ckptMagic):]
	n := binary.LittleEndian.Uint64(r)
	r = r[8:]
	if uint64(len(r)) < n {
		return fail("short header")
	}
	var hdr ckptHeader
	if err := json.Unmarshal(r[:n], &hdr); err != nil {
		return fail(err.Error())
	}
	r = r[n:]
	out := make(map[string]*tf.Tensor, len(hdr.Tensors))
	for _, t := range hdr.Tensors {
		cnt := int64(1)
		for _, d := range t.Shape {
			cnt *= d
		}
		if int64(len(r)) < 4*cnt {
			return fail("short data for " + t.Name)
		}
		tt, err := tf.ReadTensor(tf.Float, t.Shape, bytes.NewReader(r[:4*cnt]))
		if err != nil {
			return fail(t.Name + ": " + err.Error())
		}
		r = r[4*cnt:]
		out[t.Name] = tt
	}
	if len(r) != 0 {
		return fail("trailing data")
	}
	return hdr.State, out, nil
}

// Name is the file of the checkpoint taken after epoch e (1-based).
func Name(e int) string { return fmt.Sprintf("epoch-%04d.ckpt", e) }

// Latest returns the newest readable checkpoint in dir, skipping (and naming in
// warnings) any that are corrupt. ok is false when there is none.
func Latest(dir string, warn func(string)) (path string, st State, tensors map[string]*tf.Tensor, ok bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", State{}, nil, false, nil
	}
	if err != nil {
		return "", State{}, nil, false, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "epoch-") && strings.HasSuffix(e.Name(), ".ckpt") {
			names = append(names, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		p := filepath.Join(dir, n)
		st, ts, err := Read(p)
		if err == nil {
			return p, st, ts, true, nil
		}
		if !errors.Is(err, ErrCorrupt) {
			return "", State{}, nil, false, err
		}
		warn(fmt.Sprintf("skipping %s: %v; using the one before", n, err))
	}
	return "", State{}, nil, false, nil
}

// Best is the checkpoint of the best epoch so far (by the run's monitored metric).
const Best = "best.ckpt"

// RepairBest makes best.ckpt hold the epoch st names as best. A run killed between
// writing an epoch's checkpoint and best.ckpt, or resumed from an older checkpoint
// because the newest was damaged, leaves best.ckpt from another epoch; the best epoch's
// own checkpoint, when still kept, replaces it. Otherwise it warns: the export at the end
// then fails rather than exporting the wrong weights.
func RepairBest(dir string, st State, warn func(string)) error {
	if st.BestEpoch == 0 {
		return nil
	}
	path := filepath.Join(dir, Best)
	if bst, _, err := Read(path); err == nil && bst.Epoch == st.BestEpoch {
		return nil
	}
	src := filepath.Join(dir, Name(st.BestEpoch))
	bst, tensors, err := Read(src)
	if err != nil || bst.Epoch != st.BestEpoch {
		warn(fmt.Sprintf("%s does not hold the best epoch (%d), and %s is gone: that epoch cannot be exported", Best, st.BestEpoch, filepath.Base(src)))
		return nil
	}
	warn(fmt.Sprintf("%s did not hold the best epoch (%d): restored it from %s", Best, st.BestEpoch, filepath.Base(src)))
	return Write(path, bst, tensors)
}

// Save writes the checkpoint of the epoch st ends (Name(st.Epoch)) into dir, and Best
// too when the epoch improved; of the epoch checkpoints it keeps the last two, since a
// kill may cut one short.
func Save(dir string, st State, tensors map[string]*tf.Tensor, improved bool) error {
	if err := Write(filepath.Join(dir, Name(st.Epoch)), st, tensors); err != nil {
		return err
	}
	if improved {
		if err := Write(filepath.Join(dir, Best), st, tensors); err != nil {
			return err
		}
	}
	if st.Epoch > 2 {
		os.Remove(filepath.Join(dir, Name(st.Epoch-2)))
	}
	return nil
}
