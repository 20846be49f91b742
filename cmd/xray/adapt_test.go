package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraylab/xray/internal/pyref"
	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/savedmodels/adapt"
	"github.com/xraylab/xray/savedmodels/export"
	"github.com/xraylab/xray/savedmodels/savedmodelstest"
	"github.com/xraylab/xray/tfgraph"
)

// adaptFixture exports a MobileNet with BatchNormalization at its smallest input and
// copies 40 test X-rays into a directory.
func adaptFixture(t *testing.T) (model, images string) {
	t.Helper()
	m, sess := savedmodelstest.Backbone(t, tfgraph.Config{Arch: tfgraph.MobileNet, InputSize: tfgraph.MinInputSize(tfgraph.MobileNet), Seed: 5})
	model = filepath.Join(t.TempDir(), "models", "pneumonia", "1")
	if err := export.SavedModel(model, sess, m, savedmodels.Metadata{RunID: "adapt-cli"}); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "*", "*", "*.jpeg"))
	if err != nil || len(files) < 40 {
		t.Fatalf("testdata X-rays: %d, %v", len(files), err)
	}
	images = t.TempDir()
	for i, f := range files[:40] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(images, filepath.Base(filepath.Dir(f))+"-"+filepath.Base(f)), b, 0o644); err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
	}
	return model, images
}

// TestAdaptCLI: a batch-mode run writes a loadable version directory beside the source
// with the record; a layerwise run killed (SIGKILL) mid-way leaves no --out.
func TestAdaptCLI(t *testing.T) {
	model, images := adaptFixture(t)
	out := filepath.Join(filepath.Dir(model), "2")
	code, stdout, stderr := runCLI(t, "adapt", "--savedmodel", model, "--input", images, "--out", out, "--mode", "batch", "--threads", "2", "--devices", "CPU:0")
	if code != 0 || !strings.Contains(stdout, "adapted 28 BatchNormalization layers on 40 images (batch, 1 pass)") {
		t.Fatalf("adapt: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	m, err := savedmodels.Load(out, savedmodels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := m.Metadata().Adaptation; a == nil || a.Images != 40 || a.Mode != adapt.Batch {
		t.Errorf("adaptation record %+v", a)
	}
	m.Close()
	if code, _, stderr := runCLI(t, "adapt", "--savedmodel", model, "--input", images, "--out", out); code != exitUsage || !strings.Contains(stderr, "--out") {
		t.Errorf("existing --out: exit %d, %s", code, stderr)
	}

	killed := filepath.Join(t.TempDir(), "adapted")
	cmd := xrayCommand("adapt", "--savedmodel", model, "--input", images, "--out", killed)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Wait until every image is read (the cache is whole): the statistics passes run.
	whole := int64(40 * 127 * 127 * 3)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		caches, _ := filepath.Glob(filepath.Join(filepath.Dir(killed), ".adapted.tmp-*", "pixels-*"))
		if len(caches) == 1 {
			if st, err := os.Stat(caches[0]); err == nil && st.Size() == whole {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the adapt process ended before the kill (%v): nothing was tested", cmd.ProcessState)
	}
	if _, err := os.Stat(killed); err == nil {
		t.Errorf("a killed adapt left %s", killed)
	}
}

func TestAdaptUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", "x", "--out", "y"}, "--savedmodel"},
		{[]string{"--savedmodel", "m", "--input", "x"}, "--out"},
		{[]string{"--savedmodel", "m", "--out", "y"}, "--input"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", "x", "--data", "d"}, "not both"},
		{[]string{"--savedmodel", "m", "--out", "y", "--data", "d", "--split", "test"}, "--manifest"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", "/nonexistent/dir"}, "--input"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", "x", "--batch", "0"}, "--batch"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", ".", "--dicom-window", "wide"}, "--dicom-window"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", ".", "--device", "tpu"}, "--device"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", ".", "--devices", "2"}, "--devices 2: names 2 devices, and this command runs on one"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", ".", "--devices", "GPU:0,GPU:1"}, "names 2 devices"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", ".", "--devices", "CPU:1"}, "--devices CPU:1"},
		{[]string{"--savedmodel", "m", "--out", "y", "--input", ".", "--device", "cpu", "--devices", "GPU:0"}, "run is on the CPU"},
	} {
		code, _, stderr := runCLI(t, append([]string{"adapt"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("adapt %v: exit %d, stderr %q; want usage error naming %s", c.args, code, stderr, c.want)
		}
	}
}
