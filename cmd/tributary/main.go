// Command tributary runs the Tributary data pipeline platform and manages
// its database, users and API tokens.
//
//	tributary serve            run the server (embedded SQLite unless TRIBUTARY_DATABASE_URL is set)
//	tributary migrate          apply database migrations
//	tributary user create      create a user (and its team)
//	tributary token create     print a new API token of a team
//	tributary version          print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
)

const usage = `Tributary: real-time data pipelines.

Usage:
  tributary serve                                    run the server
  tributary migrate                                  apply database migrations
  tributary user create --email E --password P --team T [--role R]
  tributary token create --team T --role R --name N [--expires 720h]
  tributary version

Every command takes --help. Settings come from flags or TRIBUTARY_* variables.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tributary:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a mistake on the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	if (cmd == "user" || cmd == "token") && len(rest) > 0 && rest[0] == "create" {
		cmd, rest = cmd+" create", rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "user create":
		return userCreate(ctx, rest, getenv, stdout, stderr)
	case "token create":
		return tokenCreate(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "tributary", app.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))}
}

// parse binds the configuration to a flag set and validates it.
func parse(name string, args []string, getenv func(string) string, stderr io.Writer, storageOnly bool, extra func(*flag.FlagSet)) (config.Config, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("tributary "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	envErrs := cfg.Register(fs, getenv, storageOnly)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if err := errors.Join(envErrs(), cfg.Validate(storageOnly)); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parse("serve", args, getenv, stderr, false, nil)
	if err != nil {
		return err
	}
	return app.Serve(ctx, cfg, app.NewLogger(cfg, stderr), nil)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parse("migrate", args, getenv, stderr, true, nil)
	if err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied (%s)\n", st.Backend())
	return nil
}

// openAccounts opens the store (migrating it, so the commands work on a
// fresh database) and the account service.
func openAccounts(ctx context.Context, cfg config.Config) (*account.Service, func(), error) {
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, nil, err
	}
	return account.New(st, config.Default().SessionTTL), func() { st.Close() }, nil
}

func userCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var email, password, team, role string
	cfg, err := parse("user create", args, getenv, stderr, true, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "email address (required)")
		fs.StringVar(&password, "password", "", "password, at least 10 characters (required; or TRIBUTARY_PASSWORD)")
		fs.StringVar(&team, "team", "", "team name or slug; created with the user as owner if it does not exist (required)")
		fs.StringVar(&role, "role", "", "role when joining an existing team (default viewer)")
	})
	if err != nil {
		return err
	}
	if password == "" {
		password = getenv("TRIBUTARY_PASSWORD")
	}
	if email == "" || password == "" || team == "" {
		return usageError{"user create needs --email, --password and --team"}
	}
	var r auth.Role
	if role != "" {
		if r, err = auth.ParseRole(role); err != nil {
			return usageError{err.Error()}
		}
	}
	accounts, closeFn, err := openAccounts(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	user, t, err := accounts.CreateUser(ctx, email, password, team, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s (%s) in team %s (%s)\n", user.Email, user.ID, t.Slug, t.ID)
	return nil
}

func tokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var team, role, name string
	var expires time.Duration
	cfg, err := parse("token create", args, getenv, stderr, true, func(fs *flag.FlagSet) {
		fs.StringVar(&team, "team", "", "team slug or id (required)")
		fs.StringVar(&role, "role", "", "owner, admin, editor or viewer (required)")
		fs.StringVar(&name, "name", "", "a name to recognise the token by (required)")
		fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h; 0 never expires")
	})
	if err != nil {
		return err
	}
	if team == "" || role == "" || name == "" {
		return usageError{"token create needs --team, --role and --name"}
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return usageError{err.Error()}
	}
	if expires < 0 {
		return usageError{"--expires must not be negative"}
	}
	accounts, closeFn, err := openAccounts(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	t, err := accounts.ResolveTeam(ctx, team)
	if err != nil {
		return fmt.Errorf("team %q: %w", team, err)
	}
	var exp *time.Time
	if expires > 0 {
		e := time.Now().UTC().Add(expires).Truncate(time.Microsecond)
		exp = &e
	}
	_, secret, err := accounts.IssueToken(ctx, t.ID, name, r, nil, exp)
	if err != nil {
		return err
	}
	// The secret alone on stdout, so `TOKEN=$(tributary token create ...)` works.
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created %s token %q for team %s; it is shown only once\n", r, name, t.Slug)
	return nil
}
