package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/specfile"
)

// Dashboards as code: files name pipelines by name, the server keeps
// ids. apply compares and diffs in names (the server's dashboards are
// rewritten with its pipelines' names) and sends ids; export writes
// names.

// exported is one document export writes.
type exported struct {
	name, file string
	// kind is an alert kind (specfile.KindAlertRule…), whose documents
	// are written with kind added; "" for pipelines and dashboards.
	kind string
	spec json.RawMessage
}

// encode returns the document as export writes it.
func (e exported) encode() ([]byte, error) {
	if e.kind != "" {
		return specfile.EncodeAlert(e.kind, e.spec)
	}
	return specfile.Encode(e.spec)
}

// dashChange is one step of an apply for a dashboard.
type dashChange struct {
	op      string // create, update, delete
	name    string
	desired *specfile.Dashboard
	current *client.Dashboard
	// named is the server's document with pipelines by name.
	named json.RawMessage
}

// dashPlan is what an apply does to dashboards.
type dashPlan struct {
	changes   []dashChange
	deletes   []dashChange
	unchanged int
}

func (p dashPlan) count(op string) int {
	n := 0
	for _, c := range p.changes {
		if c.op == op {
			n++
		}
	}
	return n
}

// pipelineNames maps the server's pipeline ids to names.
func pipelineNames(ps []client.Pipeline) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.ID] = p.Name
	}
	return m
}

// namedDashboard is a server dashboard's document with pipelines by name;
// an id of a pipeline deleted since stays an id.
func namedDashboard(d client.Dashboard, names map[string]string) (json.RawMessage, error) {
	doc, err := specfile.MapDashboardPipelines(d.Spec, func(ref string) string {
		if n, ok := names[ref]; ok {
			return n
		}
		return ref
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.Name, err)
	}
	return doc, nil
}

// validateDashboards checks, before anything is written, that every
// pipeline a dashboard of the files names will exist: in the files, or on
// the server and not pruned.
func validateDashboards(env Env, set specfile.Set, current []client.Pipeline, prune bool) error {
	inFiles := map[string]bool{}
	for _, p := range set.Pipelines {
		inFiles[p.Name] = true
	}
	onServer := map[string]bool{}
	for _, p := range current {
		onServer[p.Name] = true
	}
	var problems specfile.Problems
	for _, d := range set.Dashboards {
		for _, ref := range d.Refs() {
			msg := ""
			switch {
			case inFiles[ref.Pipeline]:
			case onServer[ref.Pipeline] && prune:
				msg = fmt.Sprintf("pipeline %q is not in the files, and --prune deletes it; add it to the files or name another pipeline", ref.Pipeline)
			case onServer[ref.Pipeline]:
			default:
				msg = fmt.Sprintf("there is no pipeline named %q in the files or on the server", ref.Pipeline)
			}
			if msg != "" {
				problems = append(problems, specfile.Problem{File: d.File, Line: d.LineOf(ref.Path), Path: d.Path(ref.Path), Message: msg})
			}
		}
	}
	if len(problems) > 0 {
		return reportProblems(env, problems)
	}
	return nil
}

// planDashboards compares the files' dashboards with the server's.
func planDashboards(desired []specfile.Dashboard, current []client.Dashboard, pipelines []client.Pipeline, prune bool) dashPlan {
	names := pipelineNames(pipelines)
	byName := map[string]*client.Dashboard{}
	for i := range current {
		byName[current[i].Name] = &current[i]
	}
	var plan dashPlan
	held := map[string]bool{}
	for i := range desired {
		d := &desired[i]
		held[d.Name] = true
		cur := byName[d.Name]
		if cur == nil {
			plan.changes = append(plan.changes, dashChange{op: "create", name: d.Name, desired: d})
			continue
		}
		named, err := namedDashboard(*cur, names)
		if err == nil && specfile.Equal(named, d.Spec) {
			plan.unchanged++
			continue
		}
		plan.changes = append(plan.changes, dashChange{op: "update", name: d.Name, desired: d, current: cur, named: named})
	}
	if prune {
		for i := range current {
			if !held[current[i].Name] {
				named, _ := namedDashboard(current[i], names)
				plan.deletes = append(plan.deletes, dashChange{op: "delete", name: current[i].Name, current: &current[i], named: named})
			}
		}
	}
	return plan
}

func (p dashPlan) printDiffs(env Env) {
	for _, c := range append(p.changes, p.deletes...) {
		var before, after []byte
		from, to := "/dev/null", "/dev/null"
		if c.current != nil {
			before, _ = specfile.Encode(c.named)
			from = fmt.Sprintf("dashboard %s (server, version %d)", c.name, c.current.Version)
		}
		if c.desired != nil {
			after, _ = specfile.Encode(c.desired.Spec)
			to = fmt.Sprintf("dashboard %s (%s:%d)", c.name, c.desired.File, c.desired.Line)
		}
		fmt.Fprint(env.Stdout, specfile.Diff(from, to, before, after))
	}
}

// apply writes the plan, after the pipelines were written: it reads
// their ids again, to name the ones just created.
func (p dashPlan) apply(ctx context.Context, env Env, r *remote) error {
	if len(p.changes) == 0 && len(p.deletes) == 0 {
		return nil
	}
	ps, err := r.c.ListPipelines(ctx)
	if err != nil {
		return err
	}
	ids := make(map[string]string, len(ps))
	for _, pl := range ps {
		ids[pl.Name] = pl.ID
	}
	for _, c := range p.changes {
		doc, err := specfile.MapDashboardPipelines(c.desired.Spec, func(ref string) string {
			if id, ok := ids[ref]; ok {
				return id
			}
			return ref // the server refuses it at its path
		})
		if err != nil {
			return err
		}
		switch c.op {
		case "create":
			if _, err := r.c.CreateDashboard(ctx, doc); err != nil {
				return fmt.Errorf("create dashboard %s (%s:%d): %w", c.name, c.desired.File, c.desired.Line, err)
			}
			fmt.Fprintf(env.Stdout, "created dashboard %s\n", c.name)
		case "update":
			d, err := r.c.UpdateDashboard(ctx, c.current.ID, doc, c.current.Version)
			if err != nil {
				return fmt.Errorf("update dashboard %s (%s:%d): %w", c.name, c.desired.File, c.desired.Line, err)
			}
			fmt.Fprintf(env.Stdout, "updated dashboard %s to version %d\n", c.name, d.Version)
		}
	}
	for _, c := range p.deletes {
		if err := r.c.DeleteDashboard(ctx, c.current.ID); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("delete dashboard %s: %w", c.name, err)
		}
		fmt.Fprintf(env.Stdout, "deleted dashboard %s\n", c.name)
	}
	return nil
}

// exportDashboards returns the team's dashboards as export writes them,
// pipelines by name. A widget naming a pipeline deleted since keeps its
// id, which apply refuses until the widget is fixed; export says so.
func exportDashboards(ctx context.Context, env Env, r *remote, pipelines []client.Pipeline) ([]exported, error) {
	ds, err := r.c.ListDashboards(ctx)
	if err != nil {
		return nil, err
	}
	names := pipelineNames(pipelines)
	var out []exported
	for _, d := range ds {
		named, err := namedDashboard(d, names)
		if err != nil {
			return nil, err
		}
		for _, m := range d.Missing {
			fmt.Fprintf(env.Stderr, "warning: dashboard %s: %s names pipeline %s, which no longer exists; fix it before applying\n", d.Name, m.Path, m.Pipeline)
		}
		out = append(out, exported{name: d.Name, file: specfile.DashboardFileName(d.Name), spec: named})
	}
	return out, nil
}
