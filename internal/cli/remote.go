package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/app"
)

// clientCommands are the commands that talk to a server.
func clientCommands(env Env) []*cobra.Command {
	return []*cobra.Command{
		loginCommand(env),
		pipelinesCommand(env),
		recordsCommand(env),
		uploadCommand(env),
		applyCommand(env),
		exportCommand(env),
	}
}

// login is what `tributary login` stores.
type login struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// configPath is where the login is stored: os.UserConfigDir()/tributary/
// config.json, with XDG_CONFIG_HOME read through env so tests can move it.
func configPath(env Env) (string, error) {
	dir := env.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find the configuration directory: %w", err)
		}
		dir = d
	}
	return filepath.Join(dir, "tributary", "config.json"), nil
}

func loadLogin(env Env) (login, error) {
	var l login
	p, err := configPath(env)
	if err != nil {
		return l, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read the stored login: %w", err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("the stored login %s is damaged (%v); run `tributary login` again", p, err)
	}
	return l, nil
}

func saveLogin(env Env, l login) (string, error) {
	p, err := configPath(env)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("store the login: %w", err)
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("store the login: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return "", fmt.Errorf("store the login: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("store the login: %w", err)
	}
	return p, nil
}

// remote is a connection to a server.
type remote struct {
	c   *client.Client
	url string
}

// connect makes the client of the server named by TRIBUTARY_URL and
// TRIBUTARY_TOKEN, or by the stored login.
func connect(env Env) (*remote, error) {
	url, token := env.Getenv("TRIBUTARY_URL"), env.Getenv("TRIBUTARY_TOKEN")
	if url == "" || token == "" {
		l, err := loadLogin(env)
		if err != nil {
			return nil, err
		}
		if url == "" {
			url = l.URL
		}
		if token == "" && (l.URL == url || env.Getenv("TRIBUTARY_URL") == "") {
			token = l.Token
		}
	}
	if url == "" {
		return nil, errors.New("no server to talk to: set TRIBUTARY_URL and TRIBUTARY_TOKEN, or run `tributary login`")
	}
	if token == "" {
		return nil, fmt.Errorf("no API token for %s: set TRIBUTARY_TOKEN or run `tributary login`", url)
	}
	c, err := client.New(url, token, client.WithUserAgent("tributary-cli/"+app.Version))
	if err != nil {
		return nil, fmt.Errorf("TRIBUTARY_URL: %w", err)
	}
	return &remote{c: c, url: c.BaseURL()}, nil
}

// explain turns an error of the client into one line a user can act on.
func (r *remote) explain(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr):
		switch apiErr.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("the server at %s does not accept the token: check TRIBUTARY_TOKEN or run `tributary login` again", r.url)
		case http.StatusForbidden:
			return fmt.Errorf("not allowed: %s", apiErr.Detail)
		}
		return err
	case errors.Is(err, context.Canceled):
		return err
	}
	var ue UsageError
	if errors.As(err, &ue) {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") || strings.Contains(msg, "i/o timeout") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF") {
		return fmt.Errorf("cannot reach the server at %s: %s", r.url, lastPart(msg))
	}
	return err
}

// lastPart keeps the end of a chain of "a: b: c" messages.
func lastPart(msg string) string {
	parts := strings.Split(msg, ": ")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, ": ")
}

// remoteRun wraps the RunE of a client command: it connects first and
// explains the errors.
func remoteRun(env Env, run func(ctx context.Context, r *remote, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		r, err := connect(env)
		if err != nil {
			return err
		}
		return r.explain(run(cmd.Context(), r, args))
	}
}

func loginCommand(env Env) *cobra.Command {
	var url, token, email string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Store a server URL and API token for the client commands",
		Long: `Store a server URL and API token in the user's configuration directory
(os.UserConfigDir()/tributary/config.json, mode 0600); the client commands use them
when TRIBUTARY_URL and TRIBUTARY_TOKEN are not set.

The token comes from --token, TRIBUTARY_TOKEN, or the first line of standard input.
With --email, the command signs in with the password (TRIBUTARY_PASSWORD or standard input)
and creates an API token named "cli" with your role in your first team.`,
		Example: `  tributary login --url https://tributary.example.com --token "$TOKEN"
  echo "$TOKEN" | tributary login --url http://localhost:8080
  TRIBUTARY_PASSWORD=... tributary login --url http://localhost:8080 --email ada@example.com`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if url == "" {
				url = env.Getenv("TRIBUTARY_URL")
			}
			if url == "" {
				return UsageError{"login needs --url (or TRIBUTARY_URL)"}
			}
			if email != "" {
				var err error
				if token, err = tokenFromPassword(ctx, env, url, email); err != nil {
					return err
				}
			}
			if token == "" {
				token = env.Getenv("TRIBUTARY_TOKEN")
			}
			if token == "" {
				token = readLine(env)
			}
			if token == "" {
				return UsageError{"login needs a token: --token, TRIBUTARY_TOKEN or standard input"}
			}
			c, err := client.New(url, token)
			if err != nil {
				return UsageError{err.Error()}
			}
			r := &remote{c: c, url: c.BaseURL()}
			me, err := c.Me(ctx)
			if err != nil {
				return r.explain(err)
			}
			p, err := saveLogin(env, login{URL: c.BaseURL(), Token: token})
			if err != nil {
				return err
			}
			team := "?"
			if len(me.Teams) > 0 {
				team = me.Teams[0].Slug
			}
			fmt.Fprintf(env.Stdout, "logged in to %s, team %s; stored in %s\n", c.BaseURL(), team, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "the server's URL, such as http://localhost:8080 (default TRIBUTARY_URL)")
	cmd.Flags().StringVar(&token, "token", "", "an API token (default TRIBUTARY_TOKEN, else read from standard input)")
	cmd.Flags().StringVar(&email, "email", "", "sign in with this email and a password instead, and create a token")
	return cmd
}

// tokenFromPassword signs in and creates a token for the CLI.
func tokenFromPassword(ctx context.Context, env Env, url, email string) (string, error) {
	password := env.Getenv("TRIBUTARY_PASSWORD")
	if password == "" {
		password = readLine(env)
	}
	if password == "" {
		return "", UsageError{"login --email needs the password in TRIBUTARY_PASSWORD or on standard input"}
	}
	jar, _ := cookiejar.New(nil)
	c, err := client.New(url, "", client.WithHTTPClient(&http.Client{Jar: jar}))
	if err != nil {
		return "", UsageError{err.Error()}
	}
	r := &remote{c: c, url: c.BaseURL()}
	if _, err := c.Login(ctx, email, password); err != nil {
		var apiErr *client.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			return "", errors.New("the email or the password is wrong")
		}
		return "", r.explain(err)
	}
	me, err := c.Me(ctx)
	if err != nil {
		return "", r.explain(err)
	}
	if len(me.Teams) == 0 {
		return "", errors.New("you are in no team; ask a team admin to add you")
	}
	host, _ := os.Hostname()
	tok, err := c.CreateToken(ctx, client.TokenRequest{Name: strings.TrimSuffix("cli "+host, " "), Role: me.Teams[0].Role})
	if err != nil {
		return "", r.explain(err)
	}
	_ = c.Logout(ctx)
	return tok.Secret, nil
}

// readLine reads one line of standard input, trimmed.
func readLine(env Env) string {
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	return strings.TrimSpace(line)
}

// confirm asks a yes/no question on stderr and reads the answer.
func confirm(env Env, question string) bool {
	fmt.Fprintf(env.Stderr, "%s [y/N] ", question)
	a := strings.ToLower(readLine(env))
	return a == "y" || a == "yes"
}

// output prints v in format: table (with table), json or yaml.
func output(env Env, format string, v any, table func(w *tabwriter.Writer)) error {
	switch format {
	case "", "table":
		w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		table(w)
		return w.Flush()
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
		return err
	case "yaml":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = env.Stdout.Write(y)
		return err
	}
	return UsageError{fmt.Sprintf("-o %q: use table, json or yaml", format)}
}

// resolve finds a pipeline by name or id.
func (r *remote) resolve(ctx context.Context, ref string) (*client.Pipeline, error) {
	ps, err := r.c.ListPipelines(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Name == ref || strings.EqualFold(ps[i].ID, ref) {
			return &ps[i], nil
		}
	}
	return nil, fmt.Errorf("no pipeline named %q in the team; `tributary pipelines list` shows them", ref)
}

// completePipelines completes a PIPELINE argument with the team's
// pipeline names.
func completePipelines(env Env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		r, err := connect(env)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ps, err := r.c.ListPipelines(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, p := range ps {
			if strings.HasPrefix(p.Name, prefix) {
				out = append(out, cobra.CompletionWithDesc(p.Name, p.Kind+", "+p.Status))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
