package weights

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/tfgraph"
)

// Check says whether f fits arch's model (built at inputSize, 0: the paper's 256) in
// mode, without assigning anything.
func Check(f *File, arch string, mode Mode, inputSize int) error {
	m, err := tfgraph.Build(tfgraph.Config{Arch: arch, InputSize: inputSize})
	if err != nil {
		return err
	}
	_, err = plan(m.Variables, f, Options{Mode: mode, Model: arch})
	return err
}

// VerifyConfig names a file to verify and, optionally, the architecture it must fit.
type VerifyConfig struct {
	Path      string
	Arch      string // "" skips the structure check unless the file name is Keras's for an architecture
	InputSize int    // for full-model files: the input side the model was trained at (0: 256)
}

// Verification is what Verify found.
type Verification struct {
	File     *File
	Source   *Source // the ImageNet file it is named as, if any
	HashOK   bool    // the pinned hash matched (false where none is pinned)
	Arch     string  // the architecture checked against ("" if none)
	Mode     Mode    // what the file covers: ModeBase (backbone) or ModeFull
	HashNote string  // why the hash was not checked, if it was not
}

// Verify checks a weight file: the hash Keras pins for it (when the file is named as one
// of Keras's ImageNet files), that it reads, and that it fits the architecture.
func Verify(cfg VerifyConfig) (*Verification, error) {
	name := filepath.Base(cfg.Path)
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("verify %s: %w", name, err)
	}
	v := &Verification{Arch: cfg.Arch}
	if src, ok := sourceByFileName(name); ok {
		v.Source = &src
		if cfg.Arch == "" {
			v.Arch = src.Arch
		} else if cfg.Arch != src.Arch {
			return nil, fmt.Errorf("verify %s: this is Keras's %s file, not %s's", name, src.Arch, cfg.Arch)
		}
		if src.Hash != "" {
			if err := CheckHash(cfg.Path, src.Hash); err != nil {
				return nil, fmt.Errorf("verify %s: %w; fetch the %s weights again", name, err, src.Arch)
			}
			v.HashOK = true
		} else {
			v.HashNote = "Keras pins no hash for this file"
		}
	} else {
		v.HashNote = "not one of Keras's ImageNet files, so no pinned hash"
	}
	f, err := Open(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", name, err)
	}
	v.File = f
	if v.Arch == "" {
		return v, nil
	}
	m, err := tfgraph.Build(tfgraph.Config{Arch: v.Arch, InputSize: cfg.InputSize})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", name, err)
	}
	p, err := plan(m.Variables, f, Options{Mode: ModeAuto, Model: v.Arch})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %s", name, strings.TrimPrefix(err.Error(), "load weights "+name+": "))
	}
	v.Mode = p.mode
	return v, nil
}

// Resolve turns a training run's weights choice (SPEC) into a file: "imagenet" (or "") is arch's
// ImageNet file from Keras's cache, fetched when absent (cacheDir "" is CacheDir());
// "none" is "" (train from the Keras-default initialisation); anything else is a path
// to a weight file, which must exist.
func Resolve(spec, arch, cacheDir string, report progress.Func) (string, error) {
	switch strings.ToLower(spec) {
	case "none":
		return "", nil
	case "", "imagenet":
		return Fetch(context.Background(), FetchConfig{Arch: arch, CacheDir: cacheDir, Progress: report})
	}
	st, err := os.Stat(spec)
	if err != nil {
		return "", fmt.Errorf("weights %s: %w (use imagenet, none or the path of a Keras .h5/.weights.h5/.keras file)", spec, err)
	}
	if st.IsDir() {
		return "", fmt.Errorf("weights %s is a directory (use imagenet, none or the path of a Keras .h5/.weights.h5/.keras file)", spec)
	}
	return filepath.Abs(spec)
}
