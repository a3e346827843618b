package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/specfile"
)

// Alert rules and channels as code: files hold the documents the API
// takes, with kind: alert_rule or kind: alert_channel. A rule names its
// pipeline and channels by name; the server keeps what it was sent, so
// apply compares a server rule with its pipeline id turned back into a
// name. Channels name their credentials' secrets, never hold them.

// alertChange is one step of an apply for a rule or channel.
type alertChange struct {
	op      string // create, update, delete
	kind    string // specfile.KindAlertRule or KindAlertChannel
	name    string
	desired *specfile.Alert
	id      string
	// current is the server's document (a rule's pipeline by name).
	current json.RawMessage
}

// alertPlan is what an apply does to the rules or channels.
type alertPlan struct {
	kind      string
	changes   []alertChange
	deletes   []alertChange
	unchanged int
}

func (p alertPlan) count(op string) int {
	n := 0
	for _, c := range p.changes {
		if c.op == op {
			n++
		}
	}
	return n
}

// noun is "alert rules" or "alert channels".
func (p alertPlan) noun() string { return strings.ReplaceAll(p.kind, "_", " ") + "s" }

func (p alertPlan) summary(prune bool) string {
	s := fmt.Sprintf("; %s: %d to create, %d to update, %d unchanged", p.noun(), p.count("create"), p.count("update"), p.unchanged)
	if prune {
		s += fmt.Sprintf(", %d to delete", len(p.deletes))
	}
	return s
}

func (p alertPlan) deleteNames() []string {
	var names []string
	for _, d := range p.deletes {
		names = append(names, d.name)
	}
	return names
}

// serverAlerts are the team's rules and channels on the server.
type serverAlerts struct {
	rules    []client.AlertRule
	channels []client.AlertChannel
}

func loadServerAlerts(ctx context.Context, r *remote) (serverAlerts, error) {
	rules, err := r.c.ListAlertRules(ctx)
	if err != nil {
		return serverAlerts{}, err
	}
	channels, err := r.c.ListAlertChannels(ctx)
	if err != nil {
		return serverAlerts{}, err
	}
	return serverAlerts{rules: rules, channels: channels}, nil
}

// namedRule is a server rule's document with its pipeline by name; an id
// of a pipeline deleted since stays an id.
func namedRule(doc json.RawMessage, names map[string]string) (json.RawMessage, error) {
	return specfile.MapRulePipeline(doc, func(ref string) string {
		if n, ok := names[ref]; ok {
			return n
		}
		return ref
	})
}

// validateAlerts checks, before anything is written, that what the
// files' rules and channels name will exist: pipelines and channels in
// the files or on the server and not pruned, and the secrets channels
// name.
func validateAlerts(ctx context.Context, env Env, r *remote, set specfile.Set, current []client.Pipeline, sa serverAlerts, prune bool) error {
	if len(set.AlertRules) == 0 && len(set.AlertChannels) == 0 {
		return nil
	}
	pipeFiles, pipeServer := map[string]bool{}, map[string]bool{}
	for _, p := range set.Pipelines {
		pipeFiles[p.Name] = true
	}
	for _, p := range current {
		pipeServer[p.Name], pipeServer[p.ID] = true, true
	}
	chanFiles, chanServer := map[string]bool{}, map[string]bool{}
	for _, c := range set.AlertChannels {
		chanFiles[c.Name] = true
	}
	for _, c := range sa.channels {
		chanServer[c.Name] = true
	}
	exists := func(what, name string, inFiles, onServer map[string]bool) string {
		switch {
		case inFiles[name]:
		case onServer[name] && prune:
			return fmt.Sprintf("%s %q is not in the files, and --prune deletes it; add it to the files or name another", what, name)
		case onServer[name]:
		default:
			return fmt.Sprintf("there is no %s named %q in the files or on the server", what, name)
		}
		return ""
	}
	var problems specfile.Problems
	for _, a := range set.AlertRules {
		if p := a.Pipeline(); p != "" {
			if msg := exists("pipeline", p, pipeFiles, pipeServer); msg != "" {
				problems = append(problems, specfile.Problem{File: a.File, Line: a.LineOf("pipeline"), Path: a.Path("pipeline"), Message: msg})
			}
		}
		for i, ch := range a.Channels() {
			if msg := exists("alert channel", ch, chanFiles, chanServer); msg != "" {
				path := fmt.Sprintf("channels[%d]", i)
				problems = append(problems, specfile.Problem{File: a.File, Line: a.LineOf(path), Path: a.Path(path), Message: msg})
			}
		}
	}
	if len(set.AlertChannels) > 0 {
		secrets, err := r.c.ListSecrets(ctx)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, s := range secrets {
			have[s.Name] = true
		}
		for _, a := range set.AlertChannels {
			for _, name := range a.SecretRefs() {
				if !have[name] {
					problems = append(problems, specfile.Problem{File: a.File, Line: a.Line, Path: strings.TrimSuffix(a.Path(""), "."),
						Message: fmt.Sprintf("the team has no secret named %q; create it with the API (POST /api/v1/secrets) first", name)})
				}
			}
		}
	}
	if len(problems) > 0 {
		return reportProblems(env, problems)
	}
	return nil
}

// planAlerts compares the files' rules or channels with the server's.
func planAlerts(kind string, desired []specfile.Alert, sa serverAlerts, pipelines []client.Pipeline, prune bool) alertPlan {
	type server struct {
		id  string
		doc json.RawMessage
	}
	byName := map[string]server{}
	var order []string
	names := pipelineNames(pipelines)
	if kind == specfile.KindAlertRule {
		for _, r := range sa.rules {
			doc, err := namedRule(r.Spec, names)
			if err != nil {
				doc = r.Spec
			}
			byName[r.Name] = server{r.ID, doc}
			order = append(order, r.Name)
		}
	} else {
		for _, c := range sa.channels {
			byName[c.Name] = server{c.ID, c.Spec}
			order = append(order, c.Name)
		}
	}
	plan := alertPlan{kind: kind}
	held := map[string]bool{}
	for i := range desired {
		d := &desired[i]
		held[d.Name] = true
		cur, ok := byName[d.Name]
		switch {
		case !ok:
			plan.changes = append(plan.changes, alertChange{op: "create", kind: kind, name: d.Name, desired: d})
		case specfile.Equal(cur.doc, d.Spec):
			plan.unchanged++
		default:
			plan.changes = append(plan.changes, alertChange{op: "update", kind: kind, name: d.Name, desired: d, id: cur.id, current: cur.doc})
		}
	}
	if prune {
		for _, name := range order {
			if !held[name] {
				cur := byName[name]
				plan.deletes = append(plan.deletes, alertChange{op: "delete", kind: kind, name: name, id: cur.id, current: cur.doc})
			}
		}
	}
	return plan
}

func (p alertPlan) printDiffs(env Env) {
	label := strings.ReplaceAll(p.kind, "_", " ")
	for _, c := range append(p.changes, p.deletes...) {
		var before, after []byte
		from, to := "/dev/null", "/dev/null"
		if c.current != nil {
			before, _ = specfile.EncodeAlert(p.kind, c.current)
			from = fmt.Sprintf("%s %s (server)", label, c.name)
		}
		if c.desired != nil {
			after, _ = specfile.EncodeAlert(p.kind, c.desired.Spec)
			to = fmt.Sprintf("%s %s (%s:%d)", label, c.name, c.desired.File, c.desired.Line)
		}
		fmt.Fprint(env.Stdout, specfile.Diff(from, to, before, after))
	}
}

// apply writes the plan's creates and updates.
func (p alertPlan) apply(ctx context.Context, env Env, r *remote) error {
	label := strings.ReplaceAll(p.kind, "_", " ")
	for _, c := range p.changes {
		var err error
		switch {
		case c.op == "create" && p.kind == specfile.KindAlertRule:
			_, err = r.c.CreateAlertRule(ctx, c.desired.Spec)
		case c.op == "create":
			_, err = r.c.CreateAlertChannel(ctx, c.desired.Spec)
		case p.kind == specfile.KindAlertRule:
			_, err = r.c.UpdateAlertRule(ctx, c.id, c.desired.Spec)
		default:
			_, err = r.c.UpdateAlertChannel(ctx, c.id, c.desired.Spec)
		}
		if err != nil {
			return fmt.Errorf("%s %s %s (%s:%d): %w", c.op, label, c.name, c.desired.File, c.desired.Line, err)
		}
		fmt.Fprintf(env.Stdout, "%sd %s %s\n", c.op, label, c.name)
	}
	return nil
}

// applyDeletes deletes what the files no longer hold.
func (p alertPlan) applyDeletes(ctx context.Context, env Env, r *remote) error {
	label := strings.ReplaceAll(p.kind, "_", " ")
	for _, c := range p.deletes {
		var err error
		if p.kind == specfile.KindAlertRule {
			err = r.c.DeleteAlertRule(ctx, c.id)
		} else {
			err = r.c.DeleteAlertChannel(ctx, c.id)
		}
		if err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", label, c.name, err)
		}
		fmt.Fprintf(env.Stdout, "deleted %s %s\n", label, c.name)
	}
	return nil
}

// exportAlerts returns the team's channels and rules as export writes
// them, a rule's pipeline by name.
func exportAlerts(ctx context.Context, r *remote, pipelines []client.Pipeline) ([]exported, error) {
	sa, err := loadServerAlerts(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []exported
	for _, c := range sa.channels {
		out = append(out, exported{name: c.Name, kind: specfile.KindAlertChannel, file: specfile.AlertFileName(specfile.KindAlertChannel, c.Name), spec: c.Spec})
	}
	names := pipelineNames(pipelines)
	for _, rule := range sa.rules {
		doc, err := namedRule(rule.Spec, names)
		if err != nil {
			return nil, fmt.Errorf("alert rule %s: %w", rule.Name, err)
		}
		out = append(out, exported{name: rule.Name, kind: specfile.KindAlertRule, file: specfile.AlertFileName(specfile.KindAlertRule, rule.Name), spec: doc})
	}
	return out, nil
}
