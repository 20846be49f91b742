// Package pacs benchmarks `xray pacs` against a real Orthanc beside `xray predict --input`
// and `xray explain` on the same DICOM files from disk, whole processes. The PACS pass
// does more than predict: it retrieves each image (WADO-RS), predicts and computes Grad-CAM,
// draws the overlay figure, writes the SR and the Secondary Capture and stores both
// (STOW-RS); `xray explain` is the same model work from disk (prediction, Grad-CAM and the
// figure, written as PNG). Not part of the tests:
//
//	source scripts/env.sh
//	go test ./bench/pacs -run '^$' -bench . -benchtime 1x
//	XRAY_BENCH_N=500 XRAY_BENCH_DATA=$PWD/../shared/data/kermany-224/train go test ./bench/pacs -run '^$' -bench . -benchtime 1x
//
// XRAY_BENCH_DATA is a folder searched for *.jpeg one level down (default
// testdata/chest_xray/train), XRAY_BENCH_N the number of X-rays (default 40), made into
// DICOM studies by scripts/ref/pacs_make.py; XRAY_BENCH_SIZE the untrained MobileNet's
// input size (default 128). Each side runs once (a second PACS pass would skip every image).
package pacs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xraylab/xray/bench/internal/benchutil"
	"github.com/xraylab/xray/internal/orthanctest"
	"github.com/xraylab/xray/internal/pyref"
)

func envInt(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("%s=%q: %v", name, s, err)
		}
		return v
	}
	return def
}

func BenchmarkPACS(b *testing.B) {
	n, size := envInt(b, "XRAY_BENCH_N", 40), envInt(b, "XRAY_BENCH_SIZE", 128)
	root := os.Getenv("XRAY_BENCH_DATA")
	if root == "" {
		root = filepath.Join(pyref.RepoRoot(), "testdata", "chest_xray", "train")
	}
	imgs, _ := filepath.Glob(filepath.Join(root, "*", "*.jpeg"))
	if len(imgs) < n {
		b.Fatalf("%d X-rays under %s/*, want %d", len(imgs), root, n)
	}
	dcm := b.TempDir()
	pyref.Run(b, pyref.Script("pacs_make.py"), append([]string{dcm, "--per-study", "4"}, imgs[:n]...)...)
	files, _ := filepath.Glob(filepath.Join(dcm, "*.dcm"))
	model := benchutil.UntrainedModel(b, size)
	bin := filepath.Join(b.TempDir(), "xray")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/xraylab/xray/cmd/xray").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	o := orthanctest.Start(b)
	o.Upload(b, files...)
	list := filepath.Join(b.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "XRAY_PACS_PASSWORD="+orthanctest.Password)
		wall, _, err := benchutil.RunChild(cmd)
		if err != nil {
			b.Fatal(err)
		}
		return wall
	}
	b.ResetTimer()
	predict := run("predict", "--savedmodel", model, "--input", list, "--out", filepath.Join(b.TempDir(), "p.jsonl"))
	explain := run(append([]string{"explain", "--savedmodel", model, "--out", b.TempDir()}, files...)...)
	pass := run("pacs", "--url", o.DICOMweb(), "--user", orthanctest.User, "--savedmodel", model)
	b.StopTimer()
	if got := o.Count(b); got != 3*n {
		b.Fatalf("Orthanc holds %d instances after the pass, want %d (an SR and an overlay per image)", got, 3*n)
	}
	r := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	fmt.Printf("%d DICOM X-rays, %d px untrained MobileNet, whole processes: xray predict --input %.1f img/s (%.2f s), "+
		"xray explain %.1f img/s (%.2f s), xray pacs (Orthanc round trip, SR + overlay stored) %.1f img/s (%.2f s): "+
		"pacs/predict time %.2fx, pacs/explain time %.2fx; load %s\n",
		n, size, r(predict), predict.Seconds(), r(explain), explain.Seconds(), r(pass), pass.Seconds(),
		pass.Seconds()/predict.Seconds(), pass.Seconds()/explain.Seconds(), benchutil.Load())
	b.ReportMetric(pass.Seconds()/predict.Seconds(), "pacs/predict")
	b.ReportMetric(pass.Seconds()/explain.Seconds(), "pacs/explain")
}
