// Package pacs benchmarks `xray pacs` against a real Orthanc beside `xray predict --input`
// and `xray explain` on the same DICOM files from disk, whole processes, like for like:
//
//   - `xray pacs --overlay=false` (retrieve each image with WADO-RS, predict, write the SR,
//     store it with STOW-RS) beside `xray predict --input` (read, predict, write JSON lines);
//   - `xray pacs` (the same, plus Grad-CAM, the overlay figure and its Secondary Capture)
//     beside `xray explain` (predict, Grad-CAM and the figure, written as PNG).
//
// Each pass gets an Orthanc of its own holding the files (a second pass on one would skip
// every image). Besides wall times it prints CPU times, a pass's including what Orthanc
// spent serving it, and the xray process's own: on a shared machine they move less with
// the load than wall times. Not part of the tests:
//
//	source scripts/env.sh
//	go test ./bench/pacs -run '^$' -bench . -benchtime 1x
//	XRAY_BENCH_N=500 XRAY_BENCH_DATA=$PWD/../shared/data/kermany-224/train go test ./bench/pacs -run '^$' -bench . -benchtime 1x
//
// XRAY_BENCH_DATA is a folder searched for *.jpeg one level down (default
// testdata/chest_xray/train), XRAY_BENCH_N the number of X-rays (default 40), made into
// DICOM studies by scripts/ref/pacs_make.py; XRAY_BENCH_SIZE the untrained MobileNet's
// input size (default 128); XRAY_BENCH_CONCURRENCY the passes' --concurrency (default
// xray pacs's own). XRAY_BENCH_GRADCAM=0 leaves the Grad-CAM pair out (at 500 images it
// takes over 10 minutes on 2 cores). Each side runs once.
package pacs

import (
	"context"
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
	"github.com/xraylab/xray/pacs/dicomweb"
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

// dicomStudies makes n X-rays of XRAY_BENCH_DATA into DICOM files, four per study (one
// series each), and returns their paths.
func dicomStudies(b *testing.B, n int) []string {
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
	return files
}

func BenchmarkPACS(b *testing.B) {
	n, size := envInt(b, "XRAY_BENCH_N", 40), envInt(b, "XRAY_BENCH_SIZE", 128)
	files := dicomStudies(b, n)
	model := benchutil.UntrainedModel(b, size)
	bin := filepath.Join(b.TempDir(), "xray")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/xraylab/xray/cmd/xray").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	gradcam := os.Getenv("XRAY_BENCH_GRADCAM") != "0"
	srOnly := orthanctest.Start(b)
	srOnly.Upload(b, files...)
	var full *orthanctest.Server
	if gradcam {
		full = orthanctest.Start(b)
		full.Upload(b, files...)
	}
	list := filepath.Join(b.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	// run runs one side and returns its wall time and CPU time: the process's, plus what
	// Orthanc o (nil: none) spent meanwhile, as the PACS's work is part of a pass.
	var orthancSpent time.Duration // Orthanc's part of the last pass's CPU time
	run := func(o *orthanctest.Server, args ...string) (wall, cpu time.Duration) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "XRAY_PACS_PASSWORD="+orthanctest.Password)
		before := orthancCPU(b, o)
		wall, _, err := benchutil.RunChild(cmd)
		if err != nil {
			b.Fatal(err)
		}
		orthancSpent = orthancCPU(b, o) - before
		return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() + orthancSpent
	}
	pacsArgs := func(o *orthanctest.Server, extra ...string) []string {
		args := []string{"pacs", "--url", o.DICOMweb(), "--user", orthanctest.User, "--savedmodel", model}
		if c := os.Getenv("XRAY_BENCH_CONCURRENCY"); c != "" {
			args = append(args, "--concurrency", c)
		}
		return append(args, extra...)
	}
	b.ResetTimer()
	predict, predictCPU := run(nil, "predict", "--savedmodel", model, "--input", list, "--out", filepath.Join(b.TempDir(), "p.jsonl"))
	sr, srCPU := run(srOnly, pacsArgs(srOnly, "--overlay=false")...)
	srOrthanc := orthancSpent
	var explain, pass, explainCPU, passCPU, passOrthanc time.Duration
	if gradcam {
		explain, explainCPU = run(nil, append([]string{"explain", "--savedmodel", model, "--out", b.TempDir()}, files...)...)
		pass, passCPU = run(full, pacsArgs(full)...)
		passOrthanc = orthancSpent
	}
	b.StopTimer()
	if got := srOnly.Count(b); got != 2*n {
		b.Fatalf("Orthanc holds %d instances after the --overlay=false pass, want %d (an SR per image)", got, 2*n)
	}
	r := func(d time.Duration) string {
		return fmt.Sprintf("%.2f s (%.1f img/s)", d.Seconds(), float64(n)/d.Seconds())
	}
	srXray := srCPU - srOrthanc
	fmt.Printf("%d DICOM X-rays, %d px untrained MobileNet, whole processes, concurrency %q:\n"+
		"  SR only:       xray predict --input %s, xray pacs --overlay=false %s: pacs/predict time %.2fx;\n"+
		"                 CPU %.2f s vs %.2f s (xray and Orthanc, of which Orthanc %.2f s): %.2fx;\n"+
		"                 xray's own CPU %.2f s vs %.2f s: %.2fx\n",
		n, size, os.Getenv("XRAY_BENCH_CONCURRENCY"), r(predict), r(sr), sr.Seconds()/predict.Seconds(),
		predictCPU.Seconds(), srCPU.Seconds(), srOrthanc.Seconds(), srCPU.Seconds()/predictCPU.Seconds(),
		srXray.Seconds(), predictCPU.Seconds(), srXray.Seconds()/predictCPU.Seconds())
	b.ReportMetric(sr.Seconds()/predict.Seconds(), "pacs-sr/predict")
	if gradcam {
		if got := full.Count(b); got != 3*n {
			b.Fatalf("Orthanc holds %d instances after the pass, want %d (an SR and an overlay per image)", got, 3*n)
		}
		fmt.Printf("  with Grad-CAM: xray explain %s, xray pacs %s: pacs/explain time %.2fx;\n"+
			"                 CPU %.2f s vs %.2f s (xray and Orthanc, of which Orthanc %.2f s): %.2fx\n",
			r(explain), r(pass), pass.Seconds()/explain.Seconds(), explainCPU.Seconds(), passCPU.Seconds(), passOrthanc.Seconds(),
			passCPU.Seconds()/explainCPU.Seconds())
		b.ReportMetric(pass.Seconds()/explain.Seconds(), "pacs/explain")
	}
	fmt.Printf("  load %s\n", benchutil.Load())
}

// orthancCPU is the CPU time o's process has used so far (user and system, from
// /proc/PID/stat, found by its storage directory on its command line); 0 for nil.
func orthancCPU(b *testing.B, o *orthanctest.Server) time.Duration {
	if o == nil {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cl, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cl), o.Dir+string(filepath.Separator)) {
			continue
		}
		st, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 == nil && err2 == nil {
			return time.Duration(utime+stime) * time.Second / 100 // USER_HZ, 100 on Linux
		}
	}
	b.Fatalf("no Orthanc process with %s on its command line", o.Dir)
	return 0
}

// BenchmarkRetrieve compares the PACS's cost of the two WADO-RS retrievals a pass can
// use, on the same instances of one Orthanc: one request per instance, one per series
// (what a pass does where every image of a series is to do). It prints wall time and
// Orthanc's CPU time for each:
//
//	XRAY_BENCH_N=500 XRAY_BENCH_DATA=$PWD/../shared/data/kermany-224/train go test ./bench/pacs -run '^$' -bench Retrieve -benchtime 1x
func BenchmarkRetrieve(b *testing.B) {
	n := envInt(b, "XRAY_BENCH_N", 40)
	files := dicomStudies(b, n)
	o := orthanctest.Start(b)
	o.Upload(b, files...)
	c, err := dicomweb.NewClient(o.DICOMweb(), dicomweb.Options{User: orthanctest.User, Password: orthanctest.Password})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var all []dicomweb.Instance
	studies, err := c.Studies(ctx, dicomweb.StudyQuery{})
	for _, s := range studies {
		in, err := c.Instances(ctx, s.UID)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, in...)
	}
	if err != nil || len(all) != n {
		b.Fatalf("%v: %d instances in Orthanc, want %d", err, len(all), n)
	}
	series := map[[2]string]bool{}
	for _, in := range all {
		series[[2]string{in.Study, in.Series}] = true
	}
	b.ResetTimer()
	measure := func(what string, requests int, f func() int) {
		cpu, start := orthancCPU(b, o), time.Now()
		if got := f(); got != n {
			b.Fatalf("%s: %d instances, want %d", what, got, n)
		}
		wall, spent := time.Since(start), orthancCPU(b, o)-cpu
		fmt.Printf("  %-13s %4d requests: wall %.2f s, Orthanc CPU %.2f s (%.1f ms per instance)\n",
			what, requests, wall.Seconds(), spent.Seconds(), spent.Seconds()*1000/float64(n))
	}
	fmt.Printf("%d DICOM X-rays in %d series, retrieved from Orthanc (WADO-RS):\n", n, len(series))
	measure("per instance", n, func() int {
		for _, in := range all {
			if _, err := c.Retrieve(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		return n
	})
	measure("per series", len(series), func() int {
		got := 0
		for s := range series {
			if err := c.RetrieveSeries(ctx, s[0], s[1], func([]byte) error { got++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
		return got
	})
	fmt.Printf("  load %s\n", benchutil.Load())
}
