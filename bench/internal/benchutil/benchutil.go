// Package benchutil holds what the side-by-side benchmarks under bench/ share: the
// machine's load to print beside a measurement, and a child process's wall time and peak
// resident memory.
//
//	wall, peak, err := benchutil.RunChild(exec.Command("xray", "train", ...))
//	fmt.Printf("%.1f s, %d MiB, load %s\n", wall.Seconds(), peak>>20, benchutil.Load())
package benchutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Load is /proc/loadavg's 1, 5 and 15 minute averages, as uptime prints them: on a shared
// machine, the context every timing needs.
func Load() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// RunChild runs cmd to the end and returns its wall time and peak resident set size in
// bytes: the kernel's ru_maxrss of the child, which is its VmHWM (whole process, all
// threads, shared libraries included). A failed command's error carries the end of its
// output.
func RunChild(cmd *exec.Cmd) (time.Duration, int64, error) {
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		s := out.String()
		return wall, 0, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, s[max(0, len(s)-3000):])
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return wall, 0, fmt.Errorf("%s: no resource usage on this system", cmd.Path)
	}
	return wall, ru.Maxrss * 1024, nil // Linux reports kilobytes
}
