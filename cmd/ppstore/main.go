// Command ppstore is the ppstore client: put, get, stat and ls files in a
// region, and run a whole region locally with `ppstore devnet`.
//
// The command tree is built with github.com/spf13/cobra: root.go registers
// one constructor per command group (put.go, get.go, ...). Exit status: 0 on
// success, 1 when a command fails, 2 for a usage error (no command, an
// unknown command or flag, a wrong number of arguments). docs/CLI.md has the
// choices behind the interface.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if path := os.Getenv("PPSTORE_CPUPROFILE"); path != "" {
		// For benchmarks: profile the whole command.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
		}
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

// Exit statuses of the ppstore command.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong
)

// run executes the command line args (without the program name), writing
// to stdout and stderr, and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(longFlagsWithOneDash(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	err = explain(cmd, err)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.err != nil {
			fmt.Fprintf(stderr, "ppstore: %v\nRun '%s --help' for usage.\n", ue.err, ue.cmd.CommandPath())
		}
		return exitUsage
	}
	fmt.Fprintln(stderr, "ppstore:", err)
	return exitError
}
