// Command tributary runs the Tributary data pipeline platform, manages its
// database, users and API tokens, and talks to a running server: pipelines
// as code (apply, export), pipelines, records and uploads. The commands
// are in package cli; `tributary help` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/tributary-dev/tributary/internal/cli"
)

// gcPercent is the garbage collector's target (GOGC) unless the GOGC
// environment variable sets one. Go's default, 100, had the collector take
// 15% of the server's CPU on webhook ingest. At 200 the server used about
// 15–25% less CPU per record, for a peak resident set of 123 MB instead of
// 98 MB; at 300, 20–30% less, but a node polling 10,000 pipelines then
// peaked at 393 MB instead of 217 MB (docs/benchmarks.md). GOMEMLIMIT
// caps memory as usual.
const gcPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tributary:", err)
		}
		os.Exit(exitCode(err))
	}
}

// run runs the command line with the process's standard input.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, cli.Env{Getenv: getenv, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr})
}

// exitCode is the exit status of err: 2 for usage errors, 1 otherwise.
func exitCode(err error) int { return cli.ExitCode(err) }
