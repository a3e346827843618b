package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["PollSchedule"] = testPollSchedule
	extra["PollLease"] = testPollLease
	extra["PollStatus"] = testPollStatus
	extra["UnarmedPolls"] = testUnarmedPolls
	extra["DedupKeys"] = testDedupKeys
}

type pollJobArgs struct {
	Pipeline uuid.UUID `json:"pipeline"`
	Due      time.Time `json:"due"`
}

func (pollJobArgs) Kind() string { return "storetest_poll" }

type pollJobWorker struct {
	river.WorkerDefaults[pollJobArgs]
	got chan pollJobArgs
}

func (w *pollJobWorker) Work(_ context.Context, j *river.Job[pollJobArgs]) error {
	w.got <- j.Args
	return nil
}

func newPolling(t *testing.T, s store.Store, teamID uuid.UUID, name string) core.Pipeline {
	t.Helper()
	return must[core.Pipeline](t)(s.CreatePipeline(ctx(t), teamID, store.NewPipeline{
		Name: name, Kind: core.KindPolling,
		Spec: json.RawMessage(`{"name":"` + name + `","kind":"polling","source":{"http":{"url":"https://api.example.com"}}}`),
	}))
}

func pollJob(p core.Pipeline, due time.Time) river.InsertManyParams {
	return river.InsertManyParams{Args: pollJobArgs{Pipeline: p.ID, Due: due}}
}

// dueAt is a due time as the scheduler makes them: whole milliseconds.
func dueAt(d time.Duration) time.Time { return core.Now().Add(d).Truncate(time.Millisecond) }

func testPollSchedule(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "poll")

	if _, err := s.PollSchedule(c, team.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("schedule before arming: err = %v, want ErrNotFound", err)
	}
	if err := s.ArmPoll(c, other.ID, p.ID, dueAt(0), pollJob(p, dueAt(0))); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("arm another team's pipeline: err = %v, want ErrNotFound", err)
	}
	if err := s.ArmPoll(c, team.ID, uuid.New(), dueAt(0), pollJob(p, dueAt(0))); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("arm unknown pipeline: err = %v, want ErrNotFound", err)
	}

	w := &pollJobWorker{got: make(chan pollJobArgs, 8)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client := must[store.JobClient](t)(s.NewJobClient(&river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}, Workers: workers,
		FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true,
	}))
	if err := client.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })

	due := dueAt(0)
	if err := s.ArmPoll(c, team.ID, p.ID, due, pollJob(p, due)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-w.got:
		if got.Pipeline != p.ID || !got.Due.Equal(due) {
			t.Fatalf("armed job = %+v, want pipeline %s due %s", got, p.ID, due)
		}
	case <-c.Done():
		t.Fatal("the armed poll job did not run")
	}
	sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
	if sched.PipelineID != p.ID || sched.TeamID != team.ID || !sched.NextDue.Equal(due) || sched.LeaseDue != nil {
		t.Fatalf("schedule = %+v, want next %s", sched, due)
	}
	if _, err := s.PollSchedule(c, other.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("another team's schedule: err = %v", err)
	}

	// The claim returns the pipeline and its state as the last batch left it.
	if err := s.WriteBatch(c, &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
		Run:   core.Run{ID: core.NewID(), Trigger: core.TriggerPoll, StartedAt: core.Now(), Error: "the API answered 500"},
		State: json.RawMessage(`{"values":{"since":"2024-01-01T00:00:00Z"}}`)}); err != nil {
		t.Fatal(err)
	}
	now := core.Now()
	if cl := must[store.PollClaim](t)(s.ClaimPoll(c, store.PollClaimArgs{TeamID: team.ID, PipelineID: p.ID, Due: due.Add(time.Second), Now: now, LeaseUntil: now.Add(time.Minute)})); !cl.Stale {
		t.Fatalf("claim of another due time = %+v, want stale", cl)
	}
	if cl := must[store.PollClaim](t)(s.ClaimPoll(c, store.PollClaimArgs{TeamID: other.ID, PipelineID: p.ID, Due: due, Now: now, LeaseUntil: now.Add(time.Minute)})); !cl.Stale {
		t.Fatalf("claim by another team = %+v, want stale", cl)
	}
	cl := must[store.PollClaim](t)(s.ClaimPoll(c, store.PollClaimArgs{TeamID: team.ID, PipelineID: p.ID, Due: due, Now: now, LeaseUntil: now.Add(time.Minute)}))
	if cl.Stale || !cl.BusyUntil.IsZero() || cl.Pipeline.ID != p.ID || cl.Pipeline.Kind != core.KindPolling {
		t.Fatalf("claim = %+v", cl)
	}
	sameJSON(t, cl.State, []byte(`{"values":{"since":"2024-01-01T00:00:00Z"}}`))
	runs := must[[]core.Run](t)(s.Runs(c, team.ID, p.ID, store.RunQuery{}))
	if len(runs) != 1 || runs[0].Error != "the API answered 500" || runs[0].Trigger != core.TriggerPoll {
		t.Fatalf("failed run = %+v", runs)
	}

	// Finishing moves the schedule and enqueues the next poll.
	next := due.Add(10 * time.Second)
	job := pollJob(p, next)
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next, Job: &job})); !moved {
		t.Fatal("finish did not move the schedule")
	}
	sched = must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
	if !sched.NextDue.Equal(next) || sched.LeaseDue != nil || sched.LeaseUntil != nil {
		t.Fatalf("schedule after finish = %+v, want next %s and no lease", sched, next)
	}
	// Finishing twice (a retried job) moves nothing and enqueues nothing.
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next.Add(time.Second), Job: &job})); moved {
		t.Fatal("a second finish of the same poll moved the schedule")
	}
	if sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !sched.NextDue.Equal(next) {
		t.Fatalf("schedule after a second finish = %+v", sched)
	}

	// Deleting the pipeline deletes its schedule.
	if err := s.DeletePipeline(c, team.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PollSchedule(c, team.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("schedule of a deleted pipeline: err = %v", err)
	}
}

func testPollLease(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "lease")
	d1 := dueAt(-time.Second)
	if err := s.ArmPoll(c, team.ID, p.ID, d1, pollJob(p, d1)); err != nil {
		t.Fatal(err)
	}
	now := core.Now()
	claim := func(due, now, until time.Time) store.PollClaim {
		t.Helper()
		return must[store.PollClaim](t)(s.ClaimPoll(c, store.PollClaimArgs{TeamID: team.ID, PipelineID: p.ID, Due: due, Now: now, LeaseUntil: until}))
	}
	if cl := claim(d1, now, now.Add(time.Minute)); cl.Stale || !cl.BusyUntil.IsZero() {
		t.Fatalf("first claim = %+v", cl)
	}
	// The same poll again (its job was retried) takes its own lease over.
	if cl := claim(d1, now, now.Add(2*time.Minute)); cl.Stale || !cl.BusyUntil.IsZero() {
		t.Fatalf("claim of the same due time = %+v", cl)
	}
	// Run now while the poll runs: the new poll waits for the lease.
	d2 := dueAt(0)
	if err := s.ArmPoll(c, team.ID, p.ID, d2, pollJob(p, d2)); err != nil {
		t.Fatal(err)
	}
	cl := claim(d2, now, now.Add(time.Minute))
	if cl.Stale || cl.BusyUntil.IsZero() || !cl.BusyUntil.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("claim while another poll holds the lease = %+v, want busy until %s", cl, now.Add(2*time.Minute))
	}
	// The first poll finishes: the schedule moved on, so only the lease is
	// released and no job is enqueued.
	next := d1.Add(time.Minute)
	job := pollJob(p, next)
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: d1, Next: next, Job: &job})); moved {
		t.Fatal("finish of a superseded poll moved the schedule")
	}
	if sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !sched.NextDue.Equal(d2) || sched.LeaseDue != nil {
		t.Fatalf("schedule = %+v, want next %s without lease", sched, d2)
	}
	if cl := claim(d2, now, now.Add(time.Minute)); cl.Stale || !cl.BusyUntil.IsZero() {
		t.Fatalf("claim after the lease was released = %+v", cl)
	}
	// A lease whose node died is free once it ends.
	d3 := dueAt(time.Second)
	if err := s.ArmPoll(c, team.ID, p.ID, d3, pollJob(p, d3)); err != nil {
		t.Fatal(err)
	}
	if cl := claim(d3, now, now.Add(time.Minute)); cl.BusyUntil.IsZero() {
		t.Fatalf("claim while the lease holds = %+v, want busy", cl)
	}
	if cl := claim(d3, now.Add(2*time.Minute), now.Add(3*time.Minute)); cl.Stale || !cl.BusyUntil.IsZero() {
		t.Fatalf("claim after the lease ended = %+v", cl)
	}
	// A stopped schedule (paused pipeline) keeps its due time and frees the lease.
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: d3})); moved {
		t.Fatal("a stop moved the schedule")
	}
	if sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !sched.NextDue.Equal(d3) || sched.LeaseDue != nil {
		t.Fatalf("schedule after a stop = %+v", sched)
	}
}

func testPollStatus(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "status")
	due := dueAt(0)
	if err := s.ArmPoll(c, team.ID, p.ID, due, pollJob(p, due)); err != nil {
		t.Fatal(err)
	}
	finish := func(due, next time.Time, status core.PipelineStatus) {
		t.Helper()
		job := pollJob(p, next)
		if _, err := s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next, Job: &job, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	status := func() core.PipelineStatus {
		t.Helper()
		return must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID)).Status
	}
	finish(due, due.Add(time.Second), core.StatusFailing)
	if got := status(); got != core.StatusFailing {
		t.Fatalf("status = %s, want failing", got)
	}
	finish(due.Add(time.Second), due.Add(2*time.Second), core.StatusActive)
	if got := status(); got != core.StatusActive {
		t.Fatalf("status = %s, want active again", got)
	}
	// A paused pipeline stays paused whatever a poll finishing says.
	if _, err := s.SetPipelineStatus(c, team.ID, p.ID, core.StatusPaused); err != nil {
		t.Fatal(err)
	}
	finish(due.Add(2*time.Second), due.Add(3*time.Second), core.StatusFailing)
	if got := status(); got != core.StatusPaused {
		t.Fatalf("status = %s, want paused", got)
	}
}

func testUnarmedPolls(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	unarmed := newPolling(t, s, team.ID, "unarmed")
	armed := newPolling(t, s, team.ID, "armed")
	overdue := newPolling(t, s, team.ID, "overdue")
	leased := newPolling(t, s, team.ID, "leased")
	paused := newPolling(t, s, team.ID, "paused")
	newPipeline(t, s, team.ID, "webhook")
	now := core.Now()
	arm := func(p core.Pipeline, due time.Time) {
		t.Helper()
		if err := s.ArmPoll(c, team.ID, p.ID, due, pollJob(p, due)); err != nil {
			t.Fatal(err)
		}
	}
	arm(armed, now.Add(time.Minute).Truncate(time.Millisecond))
	arm(overdue, now.Add(-time.Hour).Truncate(time.Millisecond))
	old := now.Add(-time.Hour).Truncate(time.Millisecond)
	arm(leased, old)
	if cl := must[store.PollClaim](t)(s.ClaimPoll(c, store.PollClaimArgs{TeamID: team.ID, PipelineID: leased.ID, Due: old, Now: now, LeaseUntil: now.Add(time.Minute)})); cl.Stale {
		t.Fatal("claim failed")
	}
	if _, err := s.SetPipelineStatus(c, team.ID, paused.ID, core.StatusPaused); err != nil {
		t.Fatal(err)
	}
	refs := must[[]store.PollRef](t)(s.UnarmedPolls(c, now.Add(-10*time.Minute), now, 100))
	got := map[uuid.UUID]bool{}
	for _, r := range refs {
		if r.TeamID == team.ID {
			got[r.PipelineID] = true
		}
	}
	if len(got) != 2 || !got[unarmed.ID] || !got[overdue.ID] {
		t.Fatalf("unarmed = %v, want %s (no schedule) and %s (overdue)", got, unarmed.ID, overdue.ID)
	}
	if refs := must[[]store.PollRef](t)(s.UnarmedPolls(c, now.Add(-10*time.Minute), now, 1)); len(refs) != 1 {
		t.Fatalf("limit 1 gave %d", len(refs))
	}
}

func testDedupKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "dedup")
	q := newPolling(t, s, team.ID, "dedup-2")
	now := core.Now()
	k := func(s string) []byte { return []byte(s + "-0123456789abcdef")[:16] }
	if err := s.AddKeys(c, team.ID, p.ID, [][]byte{k("a"), k("b"), nil, k("a")}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKeys(c, team.ID, p.ID, [][]byte{k("c")}, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	// Another team cannot write keys to the pipeline.
	if err := s.AddKeys(c, other.ID, p.ID, [][]byte{k("d")}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	seen := must[[]bool](t)(s.SeenKeys(c, team.ID, p.ID, [][]byte{k("a"), nil, k("c"), k("b"), k("d"), k("a")}, now))
	if want := []bool{true, false, false, true, false, true}; !equalBools(seen, want) {
		t.Fatalf("seen = %v, want %v", seen, want)
	}
	if seen := must[[]bool](t)(s.SeenKeys(c, team.ID, q.ID, [][]byte{k("a")}, now)); seen[0] {
		t.Fatal("a key of one pipeline counts for another")
	}
	if seen := must[[]bool](t)(s.SeenKeys(c, other.ID, p.ID, [][]byte{k("a")}, now)); seen[0] {
		t.Fatal("another team sees the pipeline's keys")
	}
	if seen := must[[]bool](t)(s.SeenKeys(c, team.ID, p.ID, nil, now)); len(seen) != 0 {
		t.Fatalf("no keys gave %v", seen)
	}
	// Remembering a key again extends it.
	if err := s.AddKeys(c, team.ID, p.ID, [][]byte{k("c")}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seen := must[[]bool](t)(s.SeenKeys(c, team.ID, p.ID, [][]byte{k("c")}, now)); !seen[0] {
		t.Fatal("a key added again is not seen")
	}
	// Many keys at once.
	many := make([][]byte, 1500)
	for i := range many {
		many[i] = []byte(uuid.NewString())[:16]
	}
	if err := s.AddKeys(c, team.ID, q.ID, many[:1000], now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	seen = must[[]bool](t)(s.SeenKeys(c, team.ID, q.ID, many, now))
	for i, v := range seen {
		if v != (i < 1000) {
			t.Fatalf("key %d seen = %v", i, v)
		}
	}
	if err := s.AddKeys(c, team.ID, q.ID, many[1000:], now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := must[int](t)(s.DeleteExpiredKeys(c, now, 10_000)); n < 500 {
		t.Fatalf("deleted %d expired keys, want at least 500", n)
	}
	seen = must[[]bool](t)(s.SeenKeys(c, team.ID, q.ID, many[:1000], now))
	for i, v := range seen {
		if !v {
			t.Fatalf("live key %d was deleted", i)
		}
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
