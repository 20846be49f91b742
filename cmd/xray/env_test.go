package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// envExceptions are the flags the docs name as reading another variable: the demo's, so
// that a training environment's XRAY_OUT and XRAY_EPOCHS leave the demo alone, and the PACS
// connection's (docs/pacs.md), whose generic names (XRAY_URL, XRAY_PASSWORD) would be read
// by mistake in an environment set up for another service.
var envExceptions = map[string]string{
	"xray demo --out":      "XRAY_DEMO_OUT",
	"xray demo --epochs":   "XRAY_DEMO_EPOCHS",
	"xray pacs --url":      "XRAY_PACS_URL",
	"xray pacs --user":     "XRAY_PACS_USER",
	"xray pacs --password": "XRAY_PACS_PASSWORD",
	"xray pacs --token":    "XRAY_PACS_TOKEN",
}

// TestEveryFlagHasEnvVar backs the README's "every flag can also come from XRAY_<FLAG>":
// it walks the app's global flags and every command's and subcommand's flags and requires
// each to read exactly XRAY_<NAME> (upper case, '-' as '_'), or its listed exception.
func TestEveryFlagHasEnvVar(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	n := 0
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			if f == cli.HelpFlag {
				continue // urfave/cli's own --help, added to each command when the app runs
			}
			name := f.Names()[0]
			want := "XRAY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			if e, ok := envExceptions[where+" --"+name]; ok {
				want = e
			}
			ev, ok := f.(interface{ GetEnvVars() []string })
			if !ok || !slices.Equal(ev.GetEnvVars(), []string{want}) {
				var got []string
				if ok {
					got = ev.GetEnvVars()
				}
				t.Errorf("%s --%s: environment variables %v, want [%s]", where, name, got, want)
			}
			n++
		}
	}
	check("xray", app.Flags)
	var walk func(prefix string, cs []*cli.Command)
	walk = func(prefix string, cs []*cli.Command) {
		for _, c := range cs {
			check(prefix+" "+c.Name, c.Flags)
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	walk("xray", app.Commands)
	if len(app.Commands) < 5 || n < 20 {
		t.Fatalf("walked %d commands and %d flags: the app is not assembled", len(app.Commands), n)
	}
	t.Logf("%d commands, %d flags, each with its XRAY_<FLAG>", len(app.Commands), n)
}

// TestEnvVarReachesCommand: a flag given only through its variable takes effect (here
// --split of evaluate, whose value lands in metrics.json's "split").
func TestEnvVarReachesCommand(t *testing.T) {
	// urfave/cli stores a value read from the environment in the (package-level) flag
	// itself: restore it, or later tests in this process would evaluate the val split.
	var split *cli.StringFlag
	for _, c := range commands {
		for _, f := range c.Flags {
			if sf, ok := f.(*cli.StringFlag); ok && c.Name == "evaluate" && sf.Name == "split" {
				split = sf
			}
		}
	}
	if split == nil {
		t.Fatal("evaluate has no --split flag")
	}
	saved := *split
	t.Cleanup(func() { *split = saved })
	t.Setenv("XRAY_SPLIT", "val")
	dir := t.TempDir()
	in := dir + "/preds.csv"
	paperMobileNetCSV(t, in)
	code, stdout, stderr := runCLI(t, "evaluate", "--predictions", in, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"split": "val"`) {
		t.Errorf("XRAY_SPLIT=val did not reach metrics.json:\n%s", stdout)
	}
}
