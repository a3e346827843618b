package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
)

// serverCommands are the commands that work on the server's database.
// Their flags are the standard flag package's, parsed by parse, so that
// they keep the spelling (-addr and --addr) and the TRIBUTARY_* variables
// of package config.
func serverCommands(env Env) []*cobra.Command {
	flagged := func(use, short string, run func(ctx context.Context, args []string) error) *cobra.Command {
		return &cobra.Command{
			Use:                use,
			Short:              short,
			DisableFlagParsing: true,
			RunE:               func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), args) },
		}
	}
	return []*cobra.Command{
		flagged("serve", "Run the server (embedded SQLite unless TRIBUTARY_DATABASE_URL is set)", func(ctx context.Context, args []string) error {
			return serve(ctx, args, env)
		}),
		flagged("migrate", "Apply database migrations", func(ctx context.Context, args []string) error {
			return migrate(ctx, args, env)
		}),
		group(env, "user", "Manage users",
			flagged("create", "Create a user (and its team)", func(ctx context.Context, args []string) error {
				return userCreate(ctx, args, env)
			})),
		group(env, "token", "Manage API tokens",
			flagged("create", "Print a new API token of a team", func(ctx context.Context, args []string) error {
				return tokenCreate(ctx, args, env)
			})),
		versionCommand(env),
	}
}

// parse binds the configuration to a flag set and validates it.
func parse(name string, args []string, env Env, storageOnly bool, extra func(*flag.FlagSet)) (config.Config, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("tributary "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	envErrs := cfg.Register(fs, env.Getenv, storageOnly)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, UsageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, UsageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if err := errors.Join(envErrs(), cfg.Validate(storageOnly)); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

func serve(ctx context.Context, args []string, env Env) error {
	cfg, err := parse("serve", args, env, false, nil)
	if err != nil {
		return err
	}
	return app.Serve(ctx, cfg, app.NewLogger(cfg, env.Stderr), nil)
}

func migrate(ctx context.Context, args []string, env Env) error {
	cfg, err := parse("migrate", args, env, true, nil)
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
	fmt.Fprintf(env.Stdout, "migrations applied (%s)\n", st.Backend())
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

func userCreate(ctx context.Context, args []string, env Env) error {
	var email, password, team, role string
	cfg, err := parse("user create", args, env, true, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "email address (required)")
		fs.StringVar(&password, "password", "", "password, at least 10 characters (required; or TRIBUTARY_PASSWORD)")
		fs.StringVar(&team, "team", "", "team name or slug; created with the user as owner if it does not exist (required)")
		fs.StringVar(&role, "role", "", "role when joining an existing team (default viewer)")
	})
	if err != nil {
		return err
	}
	if password == "" {
		password = env.Getenv("TRIBUTARY_PASSWORD")
	}
	if email == "" || password == "" || team == "" {
		return UsageError{"user create needs --email, --password and --team"}
	}
	var r auth.Role
	if role != "" {
		if r, err = auth.ParseRole(role); err != nil {
			return UsageError{err.Error()}
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
	fmt.Fprintf(env.Stdout, "created user %s (%s) in team %s (%s)\n", user.Email, user.ID, t.Slug, t.ID)
	return nil
}

func tokenCreate(ctx context.Context, args []string, env Env) error {
	var team, role, name string
	var expires time.Duration
	cfg, err := parse("token create", args, env, true, func(fs *flag.FlagSet) {
		fs.StringVar(&team, "team", "", "team slug or id (required)")
		fs.StringVar(&role, "role", "", "owner, admin, editor or viewer (required)")
		fs.StringVar(&name, "name", "", "a name to recognise the token by (required)")
		fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h; 0 never expires")
	})
	if err != nil {
		return err
	}
	if team == "" || role == "" || name == "" {
		return UsageError{"token create needs --team, --role and --name"}
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return UsageError{err.Error()}
	}
	if expires < 0 {
		return UsageError{"--expires must not be negative"}
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
	fmt.Fprintln(env.Stdout, secret)
	fmt.Fprintf(env.Stderr, "created %s token %q for team %s; it is shown only once\n", r, name, t.Slug)
	return nil
}
