package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/internal/app"
)

// Env is the world a command runs in.
type Env struct {
	// Getenv reads an environment variable.
	Getenv func(string) string
	// Stdin, Stdout and Stderr are the command's streams. Stdin may be nil
	// (nothing to read).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// UsageError marks a mistake on the command line (exit status 2).
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// ExitCode is the exit status of a command that returned err: 2 for a
// usage error or help, 1 for any other failure.
func ExitCode(err error) int {
	var ue UsageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const rootLong = `Tributary: real-time data pipelines.

Server commands (they work on the database; settings from flags or TRIBUTARY_* variables):
  tributary serve                                    run the server
  tributary migrate                                  apply database migrations
  tributary user create --email E --password P --team T [--role R]
  tributary token create --team T --role R --name N [--expires 720h]
  tributary version

Client commands (they talk to a server at TRIBUTARY_URL with TRIBUTARY_TOKEN, or the stored login):
  tributary login                                    store a server URL and API token
  tributary pipelines list|get|pause|resume|run|delete
  tributary records tail PIPELINE                    follow the live stream, JSON lines
  tributary records query PIPELINE --from --to
  tributary upload PIPELINE FILE
  tributary apply -f DIR_OR_FILE [--dry-run] [--prune [--yes]]
  tributary export [--pipeline NAME] [-o DIR]
  tributary completion bash|zsh|fish

Every command takes --help.`

// Run runs the command line args (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	root := newRoot(env)
	root.SetArgs(args)
	root.SetContext(ctx)
	_, err := root.ExecuteC()
	return err
}

// newRoot builds the command tree.
func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "tributary",
		Short:         "Real-time data pipelines",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Unknown commands reach RunE, which says so in one line.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprintln(env.Stderr, rootLong)
				return UsageError{"no command given"}
			}
			fmt.Fprintln(env.Stderr, rootLong)
			return UsageError{fmt.Sprintf("unknown command %q", args[0])}
		},
	}
	root.DisableSuggestions = true
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetIn(env.Stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{err.Error()} })
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(serverCommands(env)...)
	root.AddCommand(clientCommands(env)...)
	return root
}

// group is a command that only holds subcommands; an unknown or missing
// subcommand is a usage error naming the words given.
func group(env Env, use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(env.Stderr, cmd.UsageString())
			words := append([]string{use}, args...)
			return UsageError{fmt.Sprintf("unknown command %q", strings.Join(words[:min(2, len(words))], " "))}
		},
	}
	g.AddCommand(subs...)
	return g
}

// args checks a command's positional arguments.
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return UsageError{fmt.Sprintf("%s needs %s", cmd.CommandPath(), strings.Join(names[len(args):], " and "))}
		case len(args) > len(names):
			return UsageError{fmt.Sprintf("unexpected argument %q", args[len(names)])}
		}
		return nil
	}
}

// version prints the version.
func versionCommand(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  args(),
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(env.Stdout, "tributary", app.Version)
			return nil
		},
	}
}
