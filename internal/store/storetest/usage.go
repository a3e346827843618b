package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["RunUsage"] = testRunUsage
}

// testRunUsage sums a team's runs per pipeline since a time, and never
// another team's.
func testRunUsage(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "used")
	idle := newPipeline(t, s, team.ID, "idle")
	q := newPipeline(t, s, other.ID, "theirs")
	now := core.Now().Truncate(time.Microsecond)
	write := func(p core.Pipeline, at time.Time, errText string) {
		b := oneRecordBatch(p)
		b.Run.StartedAt, b.Run.Bytes, b.Run.Error = at, 10, errText
		if err := s.WriteBatch(c, b); err != nil {
			t.Fatal(err)
		}
	}
	write(p, now.Add(-48*time.Hour), "") // before the period
	write(p, now.Add(-time.Hour), "")
	write(p, now, "boom")
	write(q, now, "")

	us := must[[]store.RunUsage](t)(s.RunUsage(c, team.ID, []uuid.UUID{p.ID, idle.ID, q.ID}, now.Add(-24*time.Hour)))
	if len(us) != 1 {
		t.Fatalf("usage of %d pipelines, want only the one that ran: %+v", len(us), us)
	}
	u := us[0]
	if u.PipelineID != p.ID || u.Runs != 2 || u.Failed != 1 || u.Fetched != 2 || u.Stored != 2 || u.Bytes != 20 {
		t.Fatalf("usage %+v, want 2 runs (1 failed), 2 fetched, 2 stored, 20 bytes", u)
	}
	if us := must[[]store.RunUsage](t)(s.RunUsage(c, other.ID, []uuid.UUID{p.ID}, time.Time{})); len(us) != 0 {
		t.Fatalf("another team reads the pipeline's usage: %+v", us)
	}
}
