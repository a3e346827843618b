package orchestrator_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/dashboard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// lineDoc is a dashboard with a line chart of field n of each pipeline
// and a table of the first.
func lineDoc(name string, ids ...uuid.UUID) string {
	var series []string
	for _, id := range ids {
		series = append(series, fmt.Sprintf(`{"pipeline":%q,"field":"n","aggregate":"sum","bucket":"1h"}`, id))
	}
	return fmt.Sprintf(`{"name":%q,"range":"24h","widgets":[
		{"kind":"line","title":"n","x":0,"y":0,"w":6,"h":4,"series":[%s]},
		{"kind":"stat","x":6,"y":0,"series":[{"pipeline":%q,"field":"n","aggregate":"max"}]},
		{"kind":"table","x":0,"y":4,"w":12,"pipeline":%q,"rows":2,"columns":["n"]}]}`,
		name, strings.Join(series, ","), ids[0], ids[0])
}

// problemAt fails unless err is an invalid-input error with a problem at
// path whose message contains want.
func problemAt(t *testing.T, err error, path, want string) {
	t.Helper()
	var e *orchestrator.Error
	if !errors.As(err, &e) || !errors.Is(err, orchestrator.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, p := range e.Problems {
		if p.Path == path && strings.Contains(p.Message, want) {
			return
		}
	}
	t.Fatalf("no problem at %s containing %q in %+v", path, want, e.Problems)
}

func TestDashboardLifecycleAndRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		d, err := b.svc.CreateDashboard(ctx, b.editor, []byte(lineDoc("ops", p.ID)))
		if err != nil {
			t.Fatal(err)
		}
		if d.Version != 1 || d.Name != "ops" || d.Spec.Range != "24h" || len(d.Spec.Widgets) != 3 || d.Spec.Widgets[1].W != 3 ||
			d.Spec.Widgets[1].H != 2 || d.Spec.Widgets[2].H != 4 || d.Pipelines[p.ID] != "hook" || len(d.Missing) != 0 {
			t.Fatalf("created %+v", d)
		}

		// Viewers read.
		list, err := b.svc.Dashboards(ctx, b.viewer)
		if err != nil || len(list) != 1 || list[0].ID != d.ID {
			t.Fatalf("viewer lists %+v, %v", list, err)
		}
		got, err := b.svc.Dashboard(ctx, b.viewer, d.ID)
		if err != nil || got.Spec.Widgets[0].Series[0].Pipeline != p.ID.String() {
			t.Fatalf("viewer gets %+v, %v", got, err)
		}
		if _, err := b.svc.DashboardData(ctx, b.viewer, d.ID, time.Now().Add(-time.Hour), time.Now()); err != nil {
			t.Fatalf("viewer reads data: %v", err)
		}

		// Viewers do not write.
		if _, err := b.svc.CreateDashboard(ctx, b.viewer, []byte(lineDoc("v", p.ID))); !errors.Is(err, orchestrator.ErrForbidden) {
			t.Fatalf("viewer creates: %v", err)
		}
		if _, err := b.svc.UpdateDashboard(ctx, b.viewer, d.ID, 0, []byte(lineDoc("v", p.ID))); !errors.Is(err, orchestrator.ErrForbidden) {
			t.Fatalf("viewer updates: %v", err)
		}
		if err := b.svc.DeleteDashboard(ctx, b.viewer, d.ID); !errors.Is(err, orchestrator.ErrForbidden) {
			t.Fatalf("viewer deletes: %v", err)
		}

		// Editors update, with optimistic locking.
		up, err := b.svc.UpdateDashboard(ctx, b.editor, d.ID, 1, []byte(lineDoc("ops2", p.ID)))
		if err != nil || up.Version != 2 || up.Name != "ops2" {
			t.Fatalf("update: %+v, %v", up, err)
		}
		if _, err := b.svc.UpdateDashboard(ctx, b.editor, d.ID, 1, []byte(lineDoc("ops3", p.ID))); !errors.Is(err, orchestrator.ErrVersionConflict) {
			t.Fatalf("stale update: %v", err)
		}

		// A name is unique in the team.
		if _, err := b.svc.CreateDashboard(ctx, b.editor, []byte(lineDoc("ops2", p.ID))); !errors.Is(err, orchestrator.ErrConflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		other, err := b.svc.CreateDashboard(ctx, b.editor, []byte(lineDoc("other", p.ID)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.UpdateDashboard(ctx, b.editor, other.ID, 0, []byte(lineDoc("ops2", p.ID))); !errors.Is(err, orchestrator.ErrConflict) {
			t.Fatalf("rename to a taken name: %v", err)
		}

		if err := b.svc.DeleteDashboard(ctx, b.editor, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.Dashboard(ctx, b.viewer, d.ID); !errors.Is(err, orchestrator.ErrNotFound) {
			t.Fatalf("deleted: %v", err)
		}
	})
}

// TestDashboardIsolation: another team's caller neither reads nor writes
// a dashboard, nor names the team's pipelines in its own.
func TestDashboardIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		d, err := b.svc.CreateDashboard(ctx, b.editor, []byte(lineDoc("ops", p.ID)))
		if err != nil {
			t.Fatal(err)
		}
		if list, err := b.svc.Dashboards(ctx, b.stranger); err != nil || len(list) != 0 {
			t.Fatalf("stranger lists %+v, %v", list, err)
		}
		for name, err := range map[string]error{
			"get": func() error { _, err := b.svc.Dashboard(ctx, b.stranger, d.ID); return err }(),
			"data": func() error {
				_, err := b.svc.DashboardData(ctx, b.stranger, d.ID, time.Now().Add(-time.Hour), time.Now())
				return err
			}(),
			"update": func() error {
				_, err := b.svc.UpdateDashboard(ctx, b.stranger, d.ID, 0, []byte(`{"name":"x","widgets":[]}`))
				return err
			}(),
			"delete": b.svc.DeleteDashboard(ctx, b.stranger, d.ID),
		} {
			if !errors.Is(err, orchestrator.ErrNotFound) || err.Error() != "There is no such dashboard in the team." {
				t.Errorf("stranger %s: %v, want the not-found of a missing dashboard", name, err)
			}
		}
		// Another team's pipeline cannot be named.
		_, err = b.svc.CreateDashboard(ctx, b.stranger, []byte(lineDoc("theirs", p.ID)))
		problemAt(t, err, "widgets[0].series[0].pipeline", "no pipeline with id "+p.ID.String())
		problemAt(t, err, "widgets[2].pipeline", "widget 2")
		if got, err := b.svc.Dashboard(ctx, b.viewer, d.ID); err != nil || got.Version != 1 {
			t.Fatalf("the team's dashboard after the stranger: %+v, %v", got, err)
		}
	})
}

func TestDashboardBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		series := fmt.Sprintf(`{"pipeline":%q,"field":"n"}`, p.ID)
		for _, c := range []struct {
			name, doc, path, want string
		}{
			{"unknown field", `{"name":"d","colour":"red","widgets":[]}`, "colour", "unknown field"},
			{"unknown widget field", `{"name":"d","widgets":[{"kind":"line","series":[` + series + `],"hieght":3}]}`, "widgets[0].hieght", "unknown field"},
			{"bad aggregate", `{"name":"d","widgets":[{"kind":"line","series":[{"pipeline":"` + p.ID.String() + `","field":"n","aggregate":"median"}]}]}`,
				"widgets[0].series[0].aggregate", `"median" is not an aggregate`},
			{"off grid", `{"name":"d","widgets":[{"kind":"line","x":8,"w":6,"series":[` + series + `]}]}`, "widgets[0].w", "past the grid"},
			{"overlap", `{"name":"d","widgets":[{"kind":"line","series":[` + series + `]},{"kind":"stat","x":2,"y":1,"series":[` + series + `]}]}`,
				"widgets[1]", "overlaps widgets[0]"},
			{"nested field", `{"name":"d","widgets":[{"kind":"line","series":[{"pipeline":"` + p.ID.String() + `","field":"a.b"}]}]}`,
				"widgets[0].series[0].field", "top-level"},
			{"pipeline by name", `{"name":"d","widgets":[{"kind":"line","series":[{"pipeline":"hook","field":"n"}]}]}`,
				"widgets[0].series[0].pipeline", "not a pipeline id"},
			{"unknown pipeline", `{"name":"d","widgets":[{"kind":"table","pipeline":"` + uuid.NewString() + `"}]}`,
				"widgets[0].pipeline", "no pipeline with id"},
			{"bad range", `{"name":"d","range":"2h","widgets":[]}`, "range", "not a time range"},
			{"wrong type", `{"name":"d","widgets":[{"kind":"line","x":"left","series":[` + series + `]}]}`, "widgets[0].x", "must be an integer"},
			{"not json", `{"name":`, "", "invalid JSON"},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := b.svc.CreateDashboard(ctx, b.editor, []byte(c.doc))
				problemAt(t, err, c.path, c.want)
			})
		}
		var many []string
		for i := range dashboard.MaxWidgets + 1 {
			many = append(many, fmt.Sprintf(`{"kind":"stat","y":%d,"series":[%s]}`, 2*i, series))
		}
		_, err := b.svc.CreateDashboard(ctx, b.editor, []byte(`{"name":"d","widgets":[`+strings.Join(many, ",")+`]}`))
		problemAt(t, err, "widgets", "more than the limit of 50")
	})
}

// TestDashboardMissingPipelineAndData: the data of every widget in one
// call; a pipeline deleted after the save marks its widgets instead of
// breaking the dashboard.
func TestDashboardMissingPipelineAndData(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		keep := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		gone := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(`{"name":"gone","kind":"webhook"}`)))
		c, err := b.eng.Compiled(keep)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.eng.RunBatch(ctx, keep, c, []any{map[string]any{"n": 1}, map[string]any{"n": 5}, map[string]any{"n": 3}}, core.TriggerManual, nil); err != nil {
			t.Fatal(err)
		}
		doc := fmt.Sprintf(`{"name":"ops","widgets":[
			{"kind":"line","series":[{"pipeline":%q,"field":"n","aggregate":"sum"},{"pipeline":%q,"field":"n"}]},
			{"kind":"stat","x":6,"series":[{"pipeline":%q,"field":"n","aggregate":"max"}]},
			{"kind":"table","y":4,"pipeline":%q,"rows":2},
			{"kind":"table","x":6,"y":4,"pipeline":%q}]}`, keep.ID, gone.ID, keep.ID, keep.ID, gone.ID)
		d, err := b.svc.CreateDashboard(ctx, b.editor, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.svc.DeletePipeline(ctx, b.editor, gone.ID); err != nil {
			t.Fatal(err)
		}

		got, err := b.svc.Dashboard(ctx, b.viewer, d.ID)
		if err != nil {
			t.Fatalf("a dashboard with a deleted pipeline: %v", err)
		}
		if len(got.Missing) != 2 || got.Missing[0].Path != "widgets[0].series[1].pipeline" || got.Missing[1].Path != "widgets[3].pipeline" ||
			!got.MissingWidget(0) || got.MissingWidget(1) || got.MissingWidget(2) || !got.MissingWidget(3) {
			t.Fatalf("missing = %+v", got.Missing)
		}
		if _, ok := got.Pipelines[gone.ID]; ok || got.Pipelines[keep.ID] != "hook" {
			t.Fatalf("pipelines = %v", got.Pipelines)
		}
		if list, err := b.svc.Dashboards(ctx, b.viewer); err != nil || len(list[0].Missing) != 2 {
			t.Fatalf("list: %+v, %v", list, err)
		}

		now := time.Now()
		data, err := b.svc.DashboardData(ctx, b.viewer, d.ID, now.Add(-time.Hour), now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(data.Widgets) != 4 {
			t.Fatalf("%d widgets", len(data.Widgets))
		}
		line := data.Widgets[0]
		if !line.MissingPipeline || len(line.Series) != 2 || line.Series[0].Missing || !line.Series[1].Missing || len(line.Series[1].Points) != 0 {
			t.Fatalf("line = %+v", line)
		}
		var sum float64
		var n int64
		for _, pt := range line.Series[0].Points {
			sum += pt.V
			n += pt.N
		}
		if sum != 9 || n != 3 || line.Series[0].Bucket != 10*time.Second {
			t.Fatalf("line series sums to %v over %d values in buckets of %s, want 9 over 3 in 10s", sum, n, line.Series[0].Bucket)
		}
		stat := data.Widgets[1]
		if stat.MissingPipeline || stat.Value == nil || *stat.Value != 5 || len(stat.Series) != 1 || len(stat.Series[0].Points) == 0 {
			t.Fatalf("stat = %+v", stat)
		}
		if tbl := data.Widgets[2]; tbl.MissingPipeline || len(tbl.Records) != 2 {
			t.Fatalf("table = %+v", tbl)
		}
		if tbl := data.Widgets[3]; !tbl.MissingPipeline || len(tbl.Records) != 0 {
			t.Fatalf("table of the deleted pipeline = %+v", tbl)
		}

		if _, err := b.svc.DashboardData(ctx, b.viewer, d.ID, now, now.Add(-time.Hour)); !errors.Is(err, orchestrator.ErrInvalid) {
			t.Fatalf("reversed range: %v", err)
		}
		// Saving again with the deleted pipeline is refused at its path.
		_, err = b.svc.UpdateDashboard(ctx, b.editor, d.ID, 0, []byte(doc))
		problemAt(t, err, "widgets[0].series[1].pipeline", "no pipeline")
	})
}
