// Command xray trains, evaluates and serves pneumonia detectors for pediatric chest
// X-rays on TensorFlow's C API. No logic lives here: commands fill config structs and
// call the packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/internal/tflog"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// commands is filled by each command file's init, so commands live one to a file.
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

// usageError marks a bad invocation (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }

func newApp(stdout, stderr io.Writer) *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	for _, c := range commands {
		setUsageHandler(c)
	}
	app := &cli.App{
		Name:  "xray",
		Usage: "pneumonia detection in pediatric chest X-rays (Xception, MobileNet, InceptionV3 on TensorFlow)",
		Description: "Reproduces Valero Gómez et al., CIIS 2021, in Go. Start with:\n" +
			"   xray demo                       # train + evaluate + export on the embedded sample\n" +
			"   xray <command> --help           # every command has an example",
		Commands:             commands,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		OnUsageError:         onUsageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Usage: "print error details and TensorFlow's own log lines", EnvVars: []string{"XRAY_VERBOSE"}},
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit code
	}
	return app
}

func setUsageHandler(c *cli.Command) {
	c.OnUsageError = onUsageError
	for _, s := range c.Subcommands {
		setUsageHandler(s)
	}
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	verbose := verboseRequested(args)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v (please report it with --verbose output)", r)
			}
		}()
		err = app.Run(args)
	}()
	if err == nil {
		return exitOK
	}
	err = cliError(err)
	var ue usageError
	if errors.As(err, &ue) || isUsage(err) {
		fmt.Fprintf(stderr, "xray: usage: %s (see 'xray --help')\n", oneLine(err.Error()))
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 && err.Error() == "" {
		return ec.ExitCode() // the command has said why (Ctrl-C: the resume line)
	}
	if verbose {
		fmt.Fprintf(stderr, "xray: error: %+v\n", err)
	} else {
		fmt.Fprintf(stderr, "xray: error: %s\n", oneLine(err.Error()))
	}
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return exitFailure
}

// isUsage recognises urfave/cli's own usage complaints that bypass OnUsageError.
func isUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "Required flag") || strings.HasPrefix(s, "No help topic") ||
		strings.Contains(s, "flag provided but not defined") || strings.HasPrefix(s, "invalid value")
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// verboseRequested reports --verbose (or XRAY_VERBOSE), read before the app parses its
// flags: TensorFlow's log lines must be silenced, or not, before any command runs.
func verboseRequested(args []string) bool {
	for _, a := range args {
		if a == "--verbose" || a == "-verbose" || a == "--verbose=true" {
			return true
		}
	}
	v := os.Getenv("XRAY_VERBOSE")
	return v == "true" || v == "1"
}

func main() {
	if verboseRequested(os.Args) {
		tflog.Keep() // the libraries' tflog.Once leaves TensorFlow's lines to be printed
	} else {
		tflog.Quiet() // spends TensorFlow's once-per-process log lines; failing only leaves them
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
