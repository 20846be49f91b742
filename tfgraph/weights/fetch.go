package weights

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
)

// KerasBaseURL is where keras.applications downloads its weight files from
// (keras/src/applications/*.py); BaseURLEnv overrides it (a mirror, or a test server).
const (
	KerasBaseURL = "https://storage.googleapis.com/tensorflow/keras-applications"
	BaseURLEnv   = "XRAY_WEIGHTS_BASE_URL"
)

// Source is one ImageNet "no top" weight file as keras.applications names, hosts and
// pins it.
type Source struct {
	Arch     string
	FileName string // the name in Keras's cache, e.g. "mobilenet_1_0_224_tf_no_top.h5"
	Dir      string // its folder under the base URL
	// Hash is the file_hash Keras passes to get_file: md5 (32 hex digits) or sha256
	// (64); "" where Keras pins none (MobileNet: Keras downloads it unchecked, and so
	// the structure check of Fetch is its only guard).
	Hash string
}

// URL is the file's address under base (KerasBaseURL when base is "").
func (s Source) URL(base string) string {
	if base == "" {
		base = KerasBaseURL
	}
	return strings.TrimSuffix(base, "/") + "/" + s.Dir + "/" + s.FileName
}

// sources: keras/src/applications/{mobilenet,xception,inception_v3}.py of Keras 3.8.
// MobileNet's file is the 224 one for any input size other than 128/160/192 (Keras falls
// back to 224 for the paper's 256); its weights do not depend on the input size.
var sources = map[string]Source{
	tfgraph.MobileNet:   {Arch: tfgraph.MobileNet, Dir: "mobilenet", FileName: "mobilenet_1_0_224_tf_no_top.h5"},
	tfgraph.Xception:    {Arch: tfgraph.Xception, Dir: "xception", FileName: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", Hash: "b0042744bf5b25fce3cb969f33bebb97"},
	tfgraph.InceptionV3: {Arch: tfgraph.InceptionV3, Dir: "inception_v3", FileName: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", Hash: "bcbd6486424b2319ff4ef7d526e38f63"},
}

// ImageNet returns the ImageNet no-top weight file of an architecture.
func ImageNet(arch string) (Source, error) {
	s, ok := sources[arch]
	if !ok {
		return Source{}, fmt.Errorf("no ImageNet weights known for architecture %q: use one of %s", arch, strings.Join(tfgraph.Architectures, ", "))
	}
	return s, nil
}

// sourceByFileName finds the source whose Keras file name is name.
func sourceByFileName(name string) (Source, bool) {
	for _, s := range sources {
		if s.FileName == name {
			return s, true
		}
	}
	return Source{}, false
}

// CacheDir is Keras's model cache: $KERAS_HOME/models, else ~/.keras/models, or
// /tmp/.keras/models when the home directory is not writable (keras.src.backend.config
// and file_utils.get_file), so files Keras already downloaded are reused.
func CacheDir() string {
	if kh := os.Getenv("KERAS_HOME"); kh != "" {
		return filepath.Join(kh, "models")
	}
	home, err := os.UserHomeDir()
	if err != nil || !writable(home) {
		return filepath.Join(os.TempDir(), ".keras", "models")
	}
	return filepath.Join(home, ".keras", "models")
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".xray-probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// FetchConfig says what Fetch downloads and where.
type FetchConfig struct {
	Arch     string
	CacheDir string        // default CacheDir()
	BaseURL  string        // default $XRAY_WEIGHTS_BASE_URL, else KerasBaseURL
	Progress progress.Func // called as bytes arrive; nil: none
	Client   *http.Client
}

// Fetch returns the path of arch's ImageNet file in the cache, downloading it first when
// it is absent or fails its check. The download goes to a temporary file in the cache
// folder and is renamed into place only once complete and verified, so an interrupted or
// bad download leaves nothing at the final path.
func Fetch(ctx context.Context, cfg FetchConfig) (string, error) {
	src, err := ImageNet(cfg.Arch)
	if err != nil {
		return "", err
	}
	dir := cfg.CacheDir
	if dir == "" {
		dir = CacheDir()
	}
	base := cfg.BaseURL
	if base == "" {
		base = os.Getenv(BaseURLEnv)
	}
	target := filepath.Join(dir, src.FileName)
	if _, err := os.Stat(target); err == nil {
		if err := checkSource(target, src); err == nil {
			return target, nil
		}
		// Like Keras: a cached file that fails its check is fetched again (and replaced
		// only by a good one).
	}
	url := src.URL(base)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("fetch %s weights: cache folder: %w (choose another cache folder)", cfg.Arch, err)
	}
	tmp, err := download(ctx, cfg.Client, url, dir, src.FileName, cfg.Progress)
	if err != nil {
		return "", fmt.Errorf("fetch %s weights: %w; download %s by hand and put it at %s", cfg.Arch, err, url, target)
	}
	defer os.Remove(tmp) // after the rename, a no-op
	if err := checkSource(tmp, src); err != nil {
		msg := strings.ReplaceAll(err.Error(), filepath.Base(tmp), "the download")
		return "", fmt.Errorf("fetch %s weights from %s: %s; nothing was written to %s", cfg.Arch, url, msg, target)
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", fmt.Errorf("fetch %s weights: %w", cfg.Arch, err)
	}
	return target, nil
}

// checkSource checks a downloaded or cached file: the hash Keras pins, and, where Keras
// pins none, that it is a Keras weight file that fits the architecture's backbone.
func checkSource(path string, src Source) error {
	if src.Hash != "" {
		return CheckHash(path, src.Hash)
	}
	f, err := Open(path)
	if err != nil {
		return err
	}
	return Check(f, src.Arch, ModeBase, 0)
}

// download GETs url into a temporary file in dir, showing progress, and returns its path.
func download(ctx context.Context, client *http.Client, url, dir, name string, report progress.Func) (string, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach %s (offline or blocked?): %w", url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".part-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = tmp
	if report != nil {
		w = io.MultiWriter(tmp, &progressWriter{report: report,
			e: progress.Event{Task: "download " + name, Total: max(resp.ContentLength, 0), Unit: "B"}})
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return "", fmt.Errorf("download %s interrupted after %d bytes: %w", url, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", fmt.Errorf("download %s interrupted: %d of %d bytes", url, n, resp.ContentLength)
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	ok = true
	return tmp.Name(), nil
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// HashFile is the file's digest in the algorithm Keras picks for want ("auto"): sha256
// for a 64-digit hash, md5 otherwise.
func HashFile(path, want string) (string, error) {
	var h hash.Hash = md5.New()
	if len(want) == 64 {
		h = sha256.New()
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CheckHash compares the file's hash with want (Keras's file_hash).
func CheckHash(path, want string) error {
	got, err := HashFile(path, want)
	if err != nil {
		return err
	}
	if !strings.EqualFold(got, want) {
		algo := "md5"
		if len(want) == 64 {
			algo = "sha256"
		}
		return fmt.Errorf("%s %s != %s pinned by Keras (incomplete or corrupted file)", algo, got, want)
	}
	return nil
}

// progressWriter reports the bytes written through it as a download's progress.
type progressWriter struct {
	report progress.Func
	e      progress.Event
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.e.Done += int64(len(b))
	p.report(p.e)
	return len(b), nil
}
