package pyref

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// KerasWeights returns the folder scripts/ref/weights_keras.py writes for arch at size:
// Keras-written weight files (random weights) and Keras's outputs on a fixed batch. It is
// made once per script version and shared by every package's tests through the cache.
func KerasWeights(t testing.TB, arch string, size int, extra ...string) string {
	t.Helper()
	script := Script("weights_keras.py")
	key := append([]string{"weights_keras", FileHash(t, script), arch, strconv.Itoa(size)}, extra...)
	dir := CacheDir(t, key...)
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		Run(t, script, append([]string{arch, strconv.Itoa(size), dir}, extra...)...)
	}
	return dir
}
