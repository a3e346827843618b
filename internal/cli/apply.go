package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/client"

	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/specfile"
)

// change is one step of an apply.
type change struct {
	op      string // create, update, delete
	name    string
	desired *specfile.Pipeline
	current *client.Pipeline
}

func applyCommand(env Env) *cobra.Command {
	var files []string
	var dryRun, prune, yes bool
	cmd := &cobra.Command{
		Use:   "apply -f DIR_OR_FILE",
		Short: "Create or update pipelines, dashboards and alerts from YAML or JSON files",
		Long: `Create or update the pipelines, dashboards, alert rules and alert channels of the files, matched
by name, after printing a unified diff of each one's canonical YAML (the server's against the
files'). Nothing is written unless every file is valid: every problem is listed with its file,
line and path first. Dashboards (kind: dashboard) name pipelines by name; apply resolves the
names to ids. Alert rules (kind: alert_rule) name their pipeline and channels by name; alert
channels (kind: alert_channel) name the secrets holding their credentials. --prune also deletes
the team's pipelines, dashboards, alert rules and alert channels the files no longer hold,
after confirmation or --yes.

Secrets are named, never written in files: create them with the API (POST /api/v1/secrets).`,
		Example: `  tributary apply -f pipelines/ --dry-run
  tributary apply -f pipelines/ --prune --yes`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return UsageError{"apply needs -f DIR_OR_FILE"}
			}
			if yes && !prune {
				return UsageError{"--yes confirms --prune; it means nothing without it"}
			}
			desired, err := specfile.LoadSet(builtinCompiler(), files...)
			var problems specfile.Problems
			if errors.As(err, &problems) {
				return reportProblems(env, problems)
			}
			if err != nil {
				return err
			}
			r, err := connect(env)
			if err != nil {
				return err
			}
			return r.explain(apply(cmd.Context(), env, r, desired, dryRun, prune, yes))
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a file or a directory of .yaml, .yml and .json files (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes only")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete the team's pipelines, dashboards, alert rules and alert channels that the files do not hold")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking (with --prune)")
	return cmd
}

// reportProblems lists the problems on stderr and returns the error that
// says nothing was applied.
func reportProblems(env Env, problems specfile.Problems) error {
	for _, p := range problems {
		fmt.Fprintln(env.Stderr, p.String())
	}
	noun := "problem"
	if len(problems) > 1 {
		noun = "problems"
	}
	return fmt.Errorf("%d %s in the files; nothing was applied", len(problems), noun)
}

func apply(ctx context.Context, env Env, r *remote, set specfile.Set, dryRun, prune, yes bool) error {
	desired := set.Pipelines
	current, err := r.c.ListPipelines(ctx)
	if err != nil {
		return err
	}
	currentDash, err := r.c.ListDashboards(ctx)
	if err != nil {
		return err
	}
	byName := map[string]*client.Pipeline{}
	for i := range current {
		byName[current[i].Name] = &current[i]
	}
	if err := validate(ctx, env, r, desired, byName); err != nil {
		return err
	}
	if err := validateDashboards(env, set, current, prune); err != nil {
		return err
	}
	serverAlerts, err := loadServerAlerts(ctx, r)
	if err != nil {
		return err
	}
	if err := validateAlerts(ctx, env, r, set, current, serverAlerts, prune); err != nil {
		return err
	}

	var changes []change
	unchanged := 0
	held := map[string]bool{}
	for i := range desired {
		d := &desired[i]
		held[d.Name] = true
		cur := byName[d.Name]
		switch {
		case cur == nil:
			changes = append(changes, change{op: "create", name: d.Name, desired: d})
		case !specfile.Equal(cur.Spec, d.Spec):
			changes = append(changes, change{op: "update", name: d.Name, desired: d, current: cur})
		default:
			unchanged++
		}
	}
	// Upstream pipelines first, so that a p2p pipeline finds its source.
	sort.SliceStable(changes, func(i, j int) bool { return kindOrder(changes[i]) < kindOrder(changes[j]) })
	var deletes []change
	if prune {
		for i := range current {
			if !held[current[i].Name] {
				deletes = append(deletes, change{op: "delete", name: current[i].Name, current: &current[i]})
			}
		}
	}
	dash := planDashboards(set.Dashboards, currentDash, current, prune)
	channels := planAlerts(specfile.KindAlertChannel, set.AlertChannels, serverAlerts, current, prune)
	rules := planAlerts(specfile.KindAlertRule, set.AlertRules, serverAlerts, current, prune)
	alertPlans := []alertPlan{channels, rules}

	for _, c := range append(changes, deletes...) {
		var before, after []byte
		from, to := "/dev/null", "/dev/null"
		if c.current != nil {
			before, _ = specfile.Encode(c.current.Spec)
			from = c.name + " (server, version " + fmt.Sprint(c.current.Version) + ")"
		}
		if c.desired != nil {
			after, _ = specfile.Encode(c.desired.Spec)
			to = fmt.Sprintf("%s (%s:%d)", c.name, c.desired.File, c.desired.Line)
		}
		fmt.Fprint(env.Stdout, specfile.Diff(from, to, before, after))
	}
	dash.printDiffs(env)
	for _, p := range alertPlans {
		p.printDiffs(env)
	}
	summary := fmt.Sprintf("%d to create, %d to update, %d unchanged", count(changes, "create"), count(changes, "update"), unchanged)
	if prune {
		summary += fmt.Sprintf(", %d to delete", len(deletes))
	}
	if len(set.Dashboards) > 0 || len(dash.deletes) > 0 {
		summary += fmt.Sprintf("; dashboards: %d to create, %d to update, %d unchanged", dash.count("create"), dash.count("update"), dash.unchanged)
		if prune {
			summary += fmt.Sprintf(", %d to delete", len(dash.deletes))
		}
	}
	for _, p := range alertPlans {
		if len(p.changes) > 0 || len(p.deletes) > 0 || p.unchanged > 0 {
			summary += p.summary(prune)
		}
	}
	if dryRun {
		fmt.Fprintf(env.Stdout, "%s (dry run: nothing applied)\n", summary)
		return nil
	}
	fmt.Fprintln(env.Stdout, summary)
	if (len(deletes) > 0 || len(dash.deletes) > 0 || len(channels.deletes) > 0 || len(rules.deletes) > 0) && !yes {
		var names []string
		for _, d := range deletes {
			names = append(names, d.name)
		}
		question := fmt.Sprintf("Delete %d pipelines with their records (%s)?", len(deletes), strings.Join(names, ", "))
		if len(dash.deletes) > 0 {
			var dnames []string
			for _, d := range dash.deletes {
				dnames = append(dnames, d.name)
			}
			question = fmt.Sprintf("Delete %d pipelines with their records (%s) and %d dashboards (%s)?",
				len(deletes), strings.Join(names, ", "), len(dash.deletes), strings.Join(dnames, ", "))
		}
		for _, p := range alertPlans {
			if len(p.deletes) > 0 {
				question = strings.TrimSuffix(question, "?") + fmt.Sprintf(", and %d %s (%s)?", len(p.deletes), p.noun(), strings.Join(p.deleteNames(), ", "))
			}
		}
		if !confirm(env, question) {
			return errors.New("nothing was applied: the deletions were not confirmed (--yes confirms)")
		}
	}
	for _, c := range changes {
		switch c.op {
		case "create":
			if _, err := r.c.CreatePipeline(ctx, c.desired.Spec); err != nil {
				return fmt.Errorf("create pipeline %s (%s:%d): %w", c.name, c.desired.File, c.desired.Line, err)
			}
			fmt.Fprintf(env.Stdout, "created pipeline %s\n", c.name)
		case "update":
			p, err := r.c.UpdatePipeline(ctx, c.current.ID, c.desired.Spec, c.current.Version)
			if err != nil {
				return fmt.Errorf("update pipeline %s (%s:%d): %w", c.name, c.desired.File, c.desired.Line, err)
			}
			fmt.Fprintf(env.Stdout, "updated pipeline %s to version %d\n", c.name, p.Version)
		}
	}
	// Dashboards after the pipelines they name exist, before the
	// pipelines the files dropped go.
	if err := dash.apply(ctx, env, r); err != nil {
		return err
	}
	// Channels before the rules that name them; rules after the pipelines
	// they watch; deletions of rules before the channels and pipelines
	// they name.
	for _, p := range alertPlans {
		if err := p.apply(ctx, env, r); err != nil {
			return err
		}
	}
	for _, p := range []alertPlan{rules, channels} {
		if err := p.applyDeletes(ctx, env, r); err != nil {
			return err
		}
	}
	for _, c := range deletes {
		if err := r.c.DeletePipeline(ctx, c.current.ID); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("delete pipeline %s: %w", c.name, err)
		}
		fmt.Fprintf(env.Stdout, "deleted pipeline %s\n", c.name)
	}
	return nil
}

// validate asks the server about every desired spec before anything is
// written: a preview on no input checks the spec as a create would (the
// secrets of its source included) without fetching anything; the secrets
// its sinks name must exist; a pipeline's kind cannot change.
func validate(ctx context.Context, env Env, r *remote, desired []specfile.Pipeline, byName map[string]*client.Pipeline) error {
	secrets, err := r.c.ListSecrets(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, s := range secrets {
		have[s.Name] = true
	}
	var problems specfile.Problems
	for _, d := range desired {
		if cur := byName[d.Name]; cur != nil {
			var s struct {
				Kind string `json:"kind"`
			}
			_ = json.Unmarshal(d.Spec, &s)
			if s.Kind != cur.Kind {
				problems = append(problems, specfile.Problem{File: d.File, Line: d.LineOf("kind"), Path: "kind",
					Message: fmt.Sprintf("pipeline %q on the server is %s; a kind cannot change (delete it or choose another name)", d.Name, cur.Kind)})
			}
		}
		for _, name := range specfile.SecretRefs(d.Spec) {
			if !have[name] {
				problems = append(problems, specfile.Problem{File: d.File, Line: d.Line, Path: "",
					Message: fmt.Sprintf("the team has no secret named %q; create it with the API (POST /api/v1/secrets) first", name)})
			}
		}
		_, err := r.c.PreviewPipeline(ctx, client.Preview{Spec: d.Spec, Input: json.RawMessage(`[]`), Limit: 1})
		var apiErr *client.Error
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == 422:
			for _, e := range apiErr.Errors {
				if strings.HasPrefix(e.Location, "body.input") {
					continue
				}
				// Spec problems are under body.spec, secret problems under body.
				path, ok := strings.CutPrefix(e.Location, "body.spec")
				if !ok {
					path = strings.TrimPrefix(e.Location, "body")
				}
				path = strings.TrimPrefix(path, ".")
				problems = append(problems, specfile.Problem{File: d.File, Line: d.LineOf(path), Path: path, Message: e.Message})
			}
			if len(apiErr.Errors) == 0 {
				problems = append(problems, specfile.Problem{File: d.File, Line: d.Line, Message: apiErr.Detail})
			}
		case err != nil:
			return err
		}
	}
	if len(problems) > 0 {
		return reportProblems(env, problems)
	}
	return nil
}

func kindOrder(c change) int {
	if bytes.Contains(c.desired.Spec, []byte(`"kind":"p2p"`)) {
		return 1
	}
	return 0
}

func count(cs []change, op string) int {
	n := 0
	for _, c := range cs {
		if c.op == op {
			n++
		}
	}
	return n
}

func exportCommand(env Env) *cobra.Command {
	var only, dir string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the team's pipelines, dashboards and alerts to YAML files, one a file",
		Long: `Write each pipeline's spec (sinks included, secrets by name) as canonical YAML to DIR/NAME.yaml,
each dashboard (pipelines by name) to DIR/dashboard-NAME.yaml, each alert channel (secrets by
name) to DIR/alert-channel-NAME.yaml and each alert rule (pipeline and channels by name) to
DIR/alert-rule-NAME.yaml. Applying the files again changes nothing. -o - writes everything to
standard output instead. --pipeline exports one pipeline and nothing else.`,
		Example: `  tributary export -o pipelines/
  tributary export --pipeline orders -o -`,
		Args: args(),
		RunE: remoteRun(env, func(ctx context.Context, r *remote, _ []string) error {
			ps, err := r.c.ListPipelines(ctx)
			if err != nil {
				return err
			}
			var docs []exported
			for _, p := range ps {
				docs = append(docs, exported{name: p.Name, file: specfile.FileName(p.Name), spec: p.Spec})
			}
			if only != "" {
				p, err := r.resolve(ctx, only)
				if err != nil {
					return err
				}
				docs = []exported{{name: p.Name, file: specfile.FileName(p.Name), spec: p.Spec}}
			} else {
				ds, err := exportDashboards(ctx, env, r, ps)
				if err != nil {
					return err
				}
				docs = append(docs, ds...)
				as, err := exportAlerts(ctx, r, ps)
				if err != nil {
					return err
				}
				docs = append(docs, as...)
			}
			if dir == "-" {
				for i, p := range docs {
					y, err := p.encode()
					if err != nil {
						return err
					}
					if i > 0 {
						fmt.Fprintln(env.Stdout, "---")
					}
					fmt.Fprint(env.Stdout, string(y))
				}
				return nil
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			used := map[string]bool{}
			for _, p := range docs {
				y, err := p.encode()
				if err != nil {
					return err
				}
				name := p.file
				for n := 2; used[name]; n++ {
					name = strings.TrimSuffix(p.file, ".yaml") + fmt.Sprintf("-%d.yaml", n)
				}
				used[name] = true
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, y, 0o644); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				fmt.Fprintf(env.Stdout, "wrote %s\n", path)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&only, "pipeline", "", "export only this pipeline (name or id)")
	cmd.Flags().StringVarP(&dir, "output", "o", ".", "the directory to write to, or - for standard output")
	return cmd
}

// builtinCompiler checks pipeline files with the source and sink kinds
// this build of Tributary ships, before anything is sent to a server.
func builtinCompiler() *pipeline.Compiler {
	return pipeline.NewCompiler(source.Builtin(), sink.Builtin(sink.BlobConfig{}))
}
