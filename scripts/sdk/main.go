// Command sdk serves the repository's own SDK (watchdog/) as a Go module at
// the version the templates pin, checks the pins against it and bumps them.
//
// Until github.com/inproc-go/templates/watchdog is published, no public
// module proxy has it, so builds fetch it from a proxy this command writes
// or serves (the GOPROXY protocol), placed before the usual proxy:
//
//	GOPROXY=http://127.0.0.1:3000,$(go env GOPROXY)
//
// Run it through scripts/sdk.sh; "scripts/sdk.sh help" prints the usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage: scripts/sdk.sh COMMAND [flags]

Serves watchdog/ (module ` + modulePath + `) at the version the
templates pin, the way a module proxy (Athens, Artifactory, a GOPROXY
folder) would once the module is published.

Commands:
  version            print the pinned version
  check [-tag TAG]   verify that every go.mod of the repository that requires
                     the SDK pins the same version, with go.sum hashes equal to
                     watchdog/ zipped as that version; exit 1 naming each
                     mismatch (watchdog/ changed: run "scripts/sdk.sh bump").
                     With -tag, also that the release tag TAG (watchdog/vX.Y.Z,
                     the module's, or vX.Y.Z, the templates' ref) names that
                     version: what the release workflow runs on each tag
  bump [VERSION]     pin VERSION (default: the next patch version) in every
                     go.mod and go.sum that requires the SDK
  proxy DIR          write a GOPROXY folder for the pinned version to DIR
                     (use it as GOPROXY=file://DIR, or serve it over HTTP)
  serve [-addr A] [-modcache]
                     serve that folder over HTTP on A (default 127.0.0.1:0,
                     a free port); prints the URL on stdout, then serves until
                     SIGINT or SIGTERM. Other modules get 404, so the go
                     command asks the next proxy in GOPROXY; with -modcache
                     they come from this machine's module cache (go env
                     GOMODCACHE), for builds that reach no other proxy
  run [-addr A] [-modcache] -- COMMAND [ARG...]
                     serve it while COMMAND runs with GOPROXY (the proxy, then
                     the usual one), GONOSUMDB and INPROC_SDK_PROXY (the URL)
                     set; exit with COMMAND's status (SIGTERM is passed on;
                     Ctrl-C reaches COMMAND from the terminal)
  help               show this text

Flags:
  -repo DIR          repository root (default: found above the working folder)

Exit status: 0 on success, 1 when a check or an action fails, 2 for bad
arguments.
`

// errUsage marks bad arguments (exit 2).
var errUsage = errors.New("bad arguments")

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.As(err, new(exitError)):
		os.Exit(err.(exitError).code)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "sdk: %v\nrun \"scripts/sdk.sh help\" for usage\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "sdk: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command (want version, check, bump, proxy, serve, run or help)", errUsage)
	}
	cmd, args := args[0], args[1:]
	flags := flag.NewFlagSet(cmd, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	repo := flags.String("repo", "", "repository root")
	addr := flags.String("addr", "127.0.0.1:0", "listen address")
	modcache := flags.Bool("modcache", false, "also serve the module cache")
	tag := flags.String("tag", "", "release tag to check against the pins")
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, cmd, err)
	}
	// Each command's form, and how many operands it takes.
	forms := map[string]struct {
		usage    string
		min, max int
	}{
		"version": {"version", 0, 0},
		"check":   {"check [-tag TAG]", 0, 0},
		"bump":    {"bump [VERSION]", 0, 1},
		"proxy":   {"proxy DIR", 1, 1},
		"serve":   {"serve [-addr A] [-modcache]", 0, 0},
		"run":     {"run [-addr A] [-modcache] -- COMMAND [ARG...]", 1, -1},
	}
	form, ok := forms[cmd]
	if !ok {
		return fmt.Errorf("%w: unknown command %q (want version, check, bump, proxy, serve, run or help)", errUsage, cmd)
	}
	var misplaced error
	flags.Visit(func(f *flag.Flag) {
		if (f.Name == "addr" || f.Name == "modcache") && cmd != "serve" && cmd != "run" {
			misplaced = fmt.Errorf("%w: -%s goes with serve and run, not %s", errUsage, f.Name, cmd)
		}
		if f.Name == "tag" && cmd != "check" {
			misplaced = fmt.Errorf("%w: -tag goes with check, not %s", errUsage, cmd)
		}
	})
	if misplaced != nil {
		return misplaced
	}
	operands := flags.Args()
	if len(operands) < form.min || (form.max >= 0 && len(operands) > form.max) {
		return fmt.Errorf("%w: want scripts/sdk.sh %s, got %q", errUsage, form.usage, append([]string{cmd}, args...))
	}

	r, err := openRepo(*repo)
	if err != nil {
		return err
	}
	switch cmd {
	case "version":
		v, err := r.pinnedVersion()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
		return nil
	case "check":
		if *tag != "" {
			return r.checkTag(*tag, stdout)
		}
		return r.check(stdout)
	case "bump":
		next := ""
		if len(operands) == 1 {
			next = operands[0]
		}
		return r.bump(next, stdout)
	case "proxy":
		v, err := r.pinnedVersion()
		if err != nil {
			return err
		}
		return r.writeProxy(operands[0], v)
	case "run":
		return r.runWith(*addr, *modcache, operands, stderr)
	default: // serve
		return r.serve(*addr, *modcache, stdout, stderr)
	}
}
