package pacs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/xraylab/xray/savedmodels"
)

// ModelDigest is the hex SHA-256 over a SavedModel's files (saved_model.pb, variables/,
// assets.extra/: each relative path, then its bytes, in path order): the same weights and
// metadata, the same digest, wherever the directory lies.
func ModelDigest(dir string) (string, error) {
	var files []string
	for _, sub := range []string{"saved_model.pb", "variables", "assets.extra"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil && !(sub == "assets.extra" && os.IsNotExist(err)) {
			return "", fmt.Errorf("model digest: %w", err)
		}
	}
	sort.Strings(files)
	h := sha256.New()
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("model digest: %w", err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("model digest: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ModelInfoOf names a loaded model for its results: "xray <architecture>", the run and
// xray version, the digest of its files.
func ModelInfoOf(m *savedmodels.Model) (ModelInfo, error) {
	d, err := ModelDigest(m.Dir())
	if err != nil {
		return ModelInfo{}, err
	}
	meta := m.Metadata()
	ver := "xray " + meta.XrayVersion
	if meta.RunID != "" {
		ver = "run " + meta.RunID + ", " + ver
	}
	return ModelInfo{Name: "xray " + meta.Arch, Version: ver, Digest: d}, nil
}
