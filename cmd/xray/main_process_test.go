package main

import (
	"os"
	"os/exec"
	"testing"
)

// TestMain lets tests run this test binary as the xray command itself (a real process
// they can kill or measure): with XRAY_TEST_MAIN=1 it is main.
func TestMain(m *testing.M) {
	if os.Getenv("XRAY_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// xrayCommand is the xray command line args as a subprocess (this binary through TestMain).
func xrayCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "XRAY_TEST_MAIN=1")
	return cmd
}
