package orchestrator_test

import (
	"errors"
	"testing"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

func TestSummaries(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(
			`{"name":"hook","kind":"webhook","sinks":[{"name":"out","http":{"url":"http://127.0.0.1:1/"}}]}`)))
		q := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(`{"name":"another","kind":"webhook"}`)))

		// Before any run: no last run, an empty hour.
		sums, err := b.svc.Summaries(ctx, b.viewer)
		if err != nil {
			t.Fatal(err)
		}
		if len(sums) != 2 || sums[0].Pipeline.Name != "another" || sums[1].Pipeline.Name != "hook" {
			t.Fatalf("summaries = %+v", sums)
		}
		s := sums[1]
		if s.LastRun != nil || s.LastError != "" || len(s.Activity) != orchestrator.ActivityMinutes || s.Role != auth.Viewer {
			t.Fatalf("summary before a run = %+v", s)
		}
		if s.Pipeline.HookToken != "" {
			t.Error("a viewer's summary carries the webhook token")
		}
		if len(s.Sinks) != 1 || s.Sinks[0].Name != "out" || s.Sinks[0].Status != core.SinkActive {
			t.Errorf("sinks = %+v", s.Sinks)
		}

		// Two batches count in the current minute; a failed run is the
		// last error.
		c, err := b.eng.Compiled(p)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := b.eng.RunBatch(ctx, p, c, []any{map[string]any{"n": 1}, map[string]any{"n": 2}}, core.TriggerManual, nil); err != nil {
				t.Fatal(err)
			}
		}
		s, err = b.svc.Summary(ctx, b.editor, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		var total int
		for _, n := range s.Activity {
			total += n
		}
		if total != 4 || s.Activity[orchestrator.ActivityMinutes-1] != 4 && s.Activity[orchestrator.ActivityMinutes-2] != 4 {
			t.Errorf("activity = %v, want 4 records in the last minute", s.Activity)
		}
		if s.LastRun == nil || s.LastRun.Stored != 2 || s.LastError != "" || s.Role != auth.Editor || s.Pipeline.HookTokenPrefix == "" {
			t.Errorf("summary after two batches = %+v", s)
		}
		if _, err := b.eng.RecordFailure(ctx, p, engine.FailedRun{Trigger: core.TriggerManual, StartedAt: core.Now(), Error: "the API answered 502"}); err != nil {
			t.Fatal(err)
		}
		s, err = b.svc.Summary(ctx, b.viewer, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.LastError != "the API answered 502" {
			t.Errorf("last error = %q", s.LastError)
		}

		// Another team's pipeline is not found; no principal is refused.
		if _, err := b.svc.Summary(ctx, b.stranger, q.ID); !errors.Is(err, orchestrator.ErrNotFound) {
			t.Errorf("stranger's summary: err = %v, want not found", err)
		}
		if _, err := b.svc.Summaries(ctx, orchestrator.Caller{}); !errors.Is(err, orchestrator.ErrUnauthenticated) {
			t.Errorf("no principal: err = %v", err)
		}
	})
}
