// Package xray is the root of the xray module: pneumonia detection in pediatric chest
// X-rays on TensorFlow's C API. The packages: preprocess (the pixel contract), labels (the
// class vocabulary), dataset (ingest, split, loader), tfgraph (Keras-equivalent graphs and
// weights), trainer (the training loop), savedmodels (export and serving), kerasimport
// (Keras-trained models in), evaluator (metrics and plots); the CLI is cmd/xray.
//
// This package only embeds the small real X-ray sample of testdata/chest_xray, so that
// `xray demo` runs from the binary alone.
package xray

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed testdata/chest_xray testdata/README.md
var sample embed.FS

// Sample is the embedded Kermany sample in the Kaggle layout (chest_xray/{train,test,val}/
// {NORMAL,PNEUMONIA}/), CC BY 4.0 (see testdata/README.md for the attribution).
func Sample() fs.FS {
	sub, err := fs.Sub(sample, "testdata")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// ExtractSample writes the embedded sample under dir (dir/chest_xray/..., dir/README.md)
// and returns the chest_xray root.
func ExtractSample(dir string) (string, error) {
	if err := os.CopyFS(dir, Sample()); err != nil && !os.IsExist(err) {
		return "", err
	}
	return filepath.Join(dir, "chest_xray"), nil
}
