package loader

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/dataset"
)

// These tests run this test binary as a child process (TestMain, XRAY_TEST_DISKCACHE set)
// that fills a disk cache, to kill it mid-write or to measure its peak memory.

func TestMain(m *testing.M) {
	if mode := os.Getenv("XRAY_TEST_DISKCACHE"); mode != "" {
		if err := diskCacheChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childEnv is the child's settings: XRAY_TEST_<KEY>=value.
func childEnv(kv map[string]string) []string {
	env := os.Environ()
	for k, v := range kv {
		env = append(env, "XRAY_TEST_"+k+"="+v)
	}
	return env
}

func envInt(name string) int64 {
	v, _ := strconv.ParseInt(os.Getenv("XRAY_TEST_"+name), 10, 64)
	return v
}

// diskCacheChild runs one unshuffled pass (mode "kill": dies at slot KILLAT) or EPOCHS
// passes (mode "rss": then prints its peak and file-backed resident memory) over the
// manifest MANIFEST with a disk cache in CACHEDIR.
func diskCacheChild(mode string) error {
	m, err := dataset.ReadManifest(os.Getenv("XRAY_TEST_MANIFEST"))
	if err != nil {
		return err
	}
	cfg := DefaultConfig()
	cfg.Shuffle, cfg.BatchSize, cfg.Size = mode == "rss", 20, int(envInt("SIZE"))
	cfg.CacheDir, cfg.CacheBytes = os.Getenv("XRAY_TEST_CACHEDIR"), envInt("BUDGET")
	if mode == "kill" {
		killAt := int(envInt("KILLAT"))
		testHookPixelsWritten = func(f *os.File, slot int, off, n int64) {
			if envInt("PAUSE") > 0 {
				time.Sleep(2 * time.Millisecond) // between pixels and record: where an outside kill lands most
			}
			if slot != killAt {
				return
			}
			// Tear the slot as an interrupted write would, then die without cleanup.
			f.WriteAt(bytes.Repeat([]byte{0xa5}, int(n/2)), off+n/2)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	l, err := New(m.Root, m.Entries, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	for epoch := range max(1, int(envInt("EPOCHS"))) {
		for _, err := range l.Epoch(context.Background(), epoch) {
			if err != nil {
				return err
			}
		}
	}
	if mode == "kill" {
		return errors.New("the hook did not kill the process")
	}
	fmt.Printf("VmHWM %d RssFile %d mapped %d\n", procStatus("VmHWM"), procStatus("RssFile"), l.DiskCacheStats().Mapped)
	return nil
}

// procStatus is a /proc/self/status field in bytes.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// runChild runs this binary in a child mode and returns its stdout and how it ended.
func runChild(t *testing.T, env map[string]string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = childEnv(env)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		t.Logf("child %v: %v; stderr tail: %s", env["DISKCACHE"], err, tail(errOut.String(), 600))
	}
	return out.String(), err
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// TestDiskCacheKilledMidWrite: a child filling the cache is killed with SIGKILL, by itself
// right after tearing a slot's pixels (before that slot's record), or by this process at
// a moment of its choosing while each slot's write pauses between pixels and record. The
// next loader finds the complete slots only, decodes exactly the rest, and yields the
// uncached loader's pixels; after it the file is complete.
func TestDiskCacheKilledMidWrite(t *testing.T) {
	m := sampleManifest(t)
	manifest := filepath.Join(t.TempDir(), "m.csv")
	if err := dataset.WriteManifest(manifest, m); err != nil {
		t.Fatal(err)
	}
	want := uncachedImages(t, m.Root, m.Entries, 32)
	t.Run("torn slot", func(t *testing.T) {
		dir, killAt := t.TempDir(), 40
		_, err := runChild(t, map[string]string{"DISKCACHE": "kill", "MANIFEST": manifest, "CACHEDIR": dir, "SIZE": "32", "KILLAT": strconv.Itoa(killAt)})
		checkKilled(t, err)
		checkRefill(t, m, dir, want, killAt)
	})
	t.Run("external kill -9", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = childEnv(map[string]string{"DISKCACHE": "kill", "MANIFEST": manifest, "CACHEDIR": dir, "SIZE": "32", "KILLAT": "-1", "PAUSE": "1"})
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); completeSlots(dir, len(m.Entries)) < 5 && time.Since(start) < time.Minute; {
			time.Sleep(2 * time.Millisecond)
		}
		cmd.Process.Kill()
		checkKilled(t, cmd.Wait())
		checkRefill(t, m, dir, want, -1)
	})
}

// completeSlots counts the valid records of the cache file in dir (0 before it exists).
func completeSlots(dir string, n int) int {
	files, _ := filepath.Glob(filepath.Join(dir, "pixels-*.cache"))
	if len(files) == 0 {
		return 0
	}
	b, _ := os.ReadFile(files[0])
	k := 0
	for i := range n {
		if off := diskHeaderSize + i*diskRecordSize; off+diskRecordSize <= len(b) {
			if _, ok := decodeRecord(b[off:off+diskRecordSize], i); ok {
				k++
			}
		}
	}
	return k
}

func checkKilled(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL while filling the cache", err)
	}
}

// checkRefill opens the cache a killed child left in dir: some but not all slots
// complete (never the torn one, when known), the epoch equal to want, exactly the
// missing slots decoded, then complete.
func checkRefill(t *testing.T, m *dataset.Manifest, dir string, want []float32, torn int) {
	t.Helper()
	cfg := diskConfig(dir, 0)
	l := openDisk(t, m.Root, m.Entries, cfg)
	n, st := len(m.Entries), l.DiskCacheStats()
	if st.Found == 0 || st.Found >= n {
		t.Fatalf("after kill -9: %d of %d slots found complete; want some but not all", st.Found, n)
	}
	if torn >= 0 && l.disk.state[torn].Load() != slotEmpty {
		t.Errorf("the torn slot %d counts as complete", torn)
	}
	got, decodes := epochImages(t, l, 0)
	sameImages(t, "after kill -9", got, want)
	if s := l.DiskCacheStats(); decodes != int64(n-st.Found) || s.Filled != decodes {
		t.Errorf("after kill -9 with %d of %d found: %d decodes, %d slots filled; want %d of each", st.Found, n, decodes, s.Filled, n-st.Found)
	}
	t.Logf("killed child left %d of %d slots complete (torn slot %d); all refilled", st.Found, n, torn)
	l2 := openDisk(t, m.Root, m.Entries, cfg)
	if f := l2.DiskCacheStats().Found; f != n {
		t.Errorf("after the refill: %d of %d slots complete", f, n)
	}
}

// syntheticImages writes n small random gray PNGs (labels alternating) and their manifest.
func syntheticImages(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	m := &dataset.Manifest{Root: root}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 12, 12))
		for k := range img.Pix {
			img.Pix[k] = uint8(rng.IntN(256))
		}
		dir, label := "NORMAL", 0
		if i%2 == 1 {
			dir, label = "PNEUMONIA", 1
		}
		rel := fmt.Sprintf("%s/IM-%05d-0001.png", dir, i)
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		var b bytes.Buffer
		png.Encode(&b, img)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		m.Entries = append(m.Entries, dataset.Entry{Path: rel, Label: label, Split: dataset.Train, Patient: dataset.PatientID(rel)})
	}
	path := filepath.Join(t.TempDir(), "m.csv")
	if err := dataset.WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDiskCacheMemoryBounded backs --cache-memory: a child streaming 3000 images (79 MiB
// of cached pixels at 96 px) through an 8 MiB budget peaks (VmHWM) within the budget
// plus a margin of a child that streams 100; and the same measurement flags a loader
// that maps the whole file (budget 1 GiB, the leak a broken window would have).
func TestDiskCacheMemoryBounded(t *testing.T) {
	const budget, margin = 8 << 20, 24 << 20
	peak := func(manifest, dir string, b int64) (hwm, rssFile int64) {
		out, err := runChild(t, map[string]string{"DISKCACHE": "rss", "MANIFEST": manifest, "CACHEDIR": dir,
			"SIZE": "96", "BUDGET": strconv.FormatInt(b, 10), "EPOCHS": "2"})
		var mapped int64
		if _, serr := fmt.Sscanf(out, "VmHWM %d RssFile %d mapped %d", &hwm, &rssFile, &mapped); err != nil || serr != nil || hwm <= 0 {
			t.Fatalf("child: %v / %v, output %q", err, serr, out)
		}
		if mapped > b {
			t.Errorf("child mapped %d bytes with a budget of %d", mapped, b)
		}
		return hwm, rssFile
	}
	small, large, dir := syntheticImages(t, 100), syntheticImages(t, 3000), t.TempDir()
	base, _ := peak(small, dir, budget)
	full, fullFile := peak(large, dir, budget)
	leak, leakFile := peak(large, dir, 1<<30) // reads the cache the previous child wrote
	const mib = 1 << 20
	bound := base + budget + margin
	t.Logf("peak RSS: 100 images %d MiB; 3000 images %d MiB (RssFile %d MiB); whole file mapped %d MiB (RssFile %d MiB); bound %d MiB",
		base/mib, full/mib, fullFile/mib, leak/mib, leakFile/mib, bound/mib)
	if full > bound {
		t.Errorf("3000 images through a %d MiB budget peaked at %d MiB, over 100 images' %d MiB + budget + %d MiB margin", budget/mib, full/mib, base/mib, margin/mib)
	}
	if leak <= bound {
		t.Errorf("the planted leak (whole cache mapped) peaked at %d MiB, within the bound %d MiB: the check would not catch it", leak/mib, bound/mib)
	}
}
