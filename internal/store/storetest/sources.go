package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["PollSchedule"] = testPollSchedule
	extra["PollLease"] = testPollLease
	extra["PollClaimsOnce"] = testPollClaimsOnce
	extra["PollStatus"] = testPollStatus
	extra["UnarmedPolls"] = testUnarmedPolls
	extra["DedupKeys"] = testDedupKeys
}

func newPolling(t *testing.T, s store.Store, teamID uuid.UUID, name string) core.Pipeline {
	t.Helper()
	return must[core.Pipeline](t)(s.CreatePipeline(ctx(t), teamID, store.NewPipeline{
		Name: name, Kind: core.KindPolling,
		Spec: json.RawMessage(`{"name":"` + name + `","kind":"polling","source":{"http":{"url":"https://api.example.com"}}}`),
	}))
}

// dueAt is a due time as the scheduler makes them: whole milliseconds.
func dueAt(d time.Duration) time.Time { return core.Now().Add(d).Truncate(time.Millisecond) }

// claimDue claims the polls due at now for owner, leased for a minute.
func claimDue(t *testing.T, s store.Store, owner string, now time.Time, limit int) []store.DuePoll {
	t.Helper()
	return must[[]store.DuePoll](t)(s.ClaimDuePolls(ctx(t), store.PollBatchClaim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit}))
}

func testPollSchedule(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "poll")

	if _, err := s.PollSchedule(c, team.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("schedule before arming: err = %v, want ErrNotFound", err)
	}
	if err := s.ArmPoll(c, other.ID, p.ID, dueAt(0), false); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("arm another team's pipeline: err = %v, want ErrNotFound", err)
	}
	if err := s.ArmPoll(c, team.ID, uuid.New(), dueAt(0), false); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("arm unknown pipeline: err = %v, want ErrNotFound", err)
	}
	due := dueAt(time.Second)
	if err := s.ArmPoll(c, team.ID, p.ID, due, true); err != nil {
		t.Fatal(err)
	}
	sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
	if sched.PipelineID != p.ID || sched.TeamID != team.ID || !sched.NextDue.Equal(due) || sched.LeaseDue != nil || !sched.Manual {
		t.Fatalf("schedule = %+v, want next %s, manual", sched, due)
	}
	// ArmNewPoll leaves an existing schedule alone, arms a missing one,
	// and arms nothing of another team.
	if armed := must[bool](t)(s.ArmNewPoll(c, team.ID, p.ID, dueAt(time.Hour))); armed {
		t.Fatal("ArmNewPoll armed a pipeline that had a schedule")
	}
	if again := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !again.NextDue.Equal(due) || !again.Manual {
		t.Fatalf("ArmNewPoll changed the schedule: %+v, was %+v", again, sched)
	}
	fresh := newPolling(t, s, team.ID, "fresh")
	if armed := must[bool](t)(s.ArmNewPoll(c, other.ID, fresh.ID, dueAt(0))); armed {
		t.Fatal("ArmNewPoll armed another team's pipeline")
	}
	first := dueAt(2 * time.Second)
	if !must[bool](t)(s.ArmNewPoll(c, team.ID, fresh.ID, first)) {
		t.Fatal("ArmNewPoll did not arm a pipeline without a schedule")
	}
	if fs := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, fresh.ID)); !fs.NextDue.Equal(first) || fs.Manual {
		t.Fatalf("first schedule = %+v", fs)
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
	if got := claimDue(t, s, "node-a", due.Add(-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("claim before the due time = %+v", got)
	}
	got := claimDue(t, s, "node-a", due, 10)
	if len(got) != 1 || got[0].Pipeline.ID != p.ID || got[0].Pipeline.TeamID != team.ID || got[0].Pipeline.Kind != core.KindPolling ||
		!got[0].Due.Equal(due) || !got[0].Manual {
		t.Fatalf("claim = %+v", got)
	}
	sameJSON(t, got[0].State, []byte(`{"values":{"since":"2024-01-01T00:00:00Z"}}`))
	sched = must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
	if sched.LeaseDue == nil || !sched.LeaseDue.Equal(due) || sched.LeaseOwner != "node-a" {
		t.Fatalf("schedule after the claim = %+v, want leased to node-a", sched)
	}
	if got := claimDue(t, s, "node-b", due.Add(time.Second), 10); len(got) != 0 {
		t.Fatalf("claim of a leased schedule = %+v", got)
	}
	runs := must[[]core.Run](t)(s.Runs(c, team.ID, p.ID, store.RunQuery{}))
	if len(runs) != 1 || runs[0].Error != "the API answered 500" || runs[0].Trigger != core.TriggerPoll {
		t.Fatalf("failed run = %+v", runs)
	}

	// Finishing moves the schedule and frees the lease.
	next := due.Add(10 * time.Second)
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next})); !moved {
		t.Fatal("finish did not move the schedule")
	}
	sched = must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
	if !sched.NextDue.Equal(next) || sched.LeaseDue != nil || sched.LeaseUntil != nil || sched.LeaseOwner != "" || sched.Manual {
		t.Fatalf("schedule after finish = %+v, want next %s, no lease, not manual", sched, next)
	}
	// Finishing twice moves nothing.
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next.Add(time.Second)})); moved {
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
	if err := s.ArmPoll(c, team.ID, p.ID, d1, false); err != nil {
		t.Fatal(err)
	}
	now := core.Now()
	if got := claimDue(t, s, "node-a@1", now, 10); len(got) != 1 || !got[0].Due.Equal(d1) || got[0].Manual {
		t.Fatalf("first claim = %+v", got)
	}
	// Run now while the poll runs: the new poll waits for the lease.
	d2 := dueAt(0)
	if err := s.ArmPoll(c, team.ID, p.ID, d2, true); err != nil {
		t.Fatal(err)
	}
	if got := claimDue(t, s, "node-b", now.Add(time.Second), 10); len(got) != 0 {
		t.Fatalf("claim while another poll holds the lease = %+v", got)
	}
	// The first poll finishes: the schedule moved on, so only the lease is
	// released, and the manual poll is claimed next.
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: d1, Next: d1.Add(time.Minute)})); moved {
		t.Fatal("finish of a superseded poll moved the schedule")
	}
	if sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !sched.NextDue.Equal(d2) || sched.LeaseDue != nil || !sched.Manual {
		t.Fatalf("schedule = %+v, want next %s, manual, without lease", sched, d2)
	}
	if got := claimDue(t, s, "node-a@1", now.Add(time.Second), 10); len(got) != 1 || !got[0].Due.Equal(d2) || !got[0].Manual {
		t.Fatalf("claim after the lease was released = %+v", got)
	}
	// A lease whose node died is free once it ends.
	if got := claimDue(t, s, "node-b", now.Add(59*time.Second), 10); len(got) != 0 {
		t.Fatalf("claim while the lease holds = %+v", got)
	}
	if got := claimDue(t, s, "node-b", now.Add(2*time.Minute), 10); len(got) != 1 || !got[0].Due.Equal(d2) {
		t.Fatalf("claim after the lease ended = %+v", got)
	}
	// A restarted node frees the leases of its dead processes at once.
	if n := must[int](t)(s.ReleasePolls(c, "node-a@")); n != 0 {
		t.Fatalf("released %d leases of node-a, which holds none", n)
	}
	if n := must[int](t)(s.ReleasePolls(c, "node-b")); n != 1 {
		t.Fatalf("released %d leases of node-b, want 1", n)
	}
	if _, err := s.ReleasePolls(c, ""); err == nil {
		t.Fatal("released the leases of every owner")
	}
	if got := claimDue(t, s, "node-c", now.Add(time.Second), 10); len(got) != 1 {
		t.Fatalf("claim after the release = %+v", got)
	}
	// A stopped schedule (paused pipeline) is deleted; arming it again
	// (resume) makes a new one.
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: d2})); !moved {
		t.Fatal("a stop did not delete the schedule")
	}
	if _, err := s.PollSchedule(c, team.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("schedule after a stop: err = %v", err)
	}
	if err := s.ArmPoll(c, team.ID, p.ID, d2, false); err != nil {
		t.Fatal(err)
	}
	// A stop of a superseded poll only frees its lease.
	if got := claimDue(t, s, "node-c", now.Add(time.Second), 10); len(got) != 1 {
		t.Fatalf("claim after arming again = %+v", got)
	}
	d3 := dueAt(time.Hour)
	if err := s.ArmPoll(c, team.ID, p.ID, d3, false); err != nil {
		t.Fatal(err)
	}
	if moved := must[bool](t)(s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: d2})); moved {
		t.Fatal("a stop of a superseded poll deleted the schedule")
	}
	if sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !sched.NextDue.Equal(d3) || sched.LeaseDue != nil {
		t.Fatalf("schedule after the stop of a superseded poll = %+v", sched)
	}
	testPollLeaseOfDeadNode(t, s)
}

// testPollLeaseOfDeadNode: with DeadBefore, a lease is free as soon as
// its owner is not listed with a heartbeat since then (its node died),
// and stays taken while its node keeps beating.
func testPollLeaseOfDeadNode(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	alive, dead := newPolling(t, s, team.ID, "alive-owner"), newPolling(t, s, team.ID, "dead-owner")
	now := core.Now()
	for _, n := range []store.Node{
		{ID: "lease-alive", Version: "v1", Address: "a", StartedAt: now, HeartbeatAt: now},
		{ID: "lease-dead", Version: "v1", Address: "b", StartedAt: now, HeartbeatAt: now.Add(-time.Minute)},
	} {
		if err := s.BeatNode(c, n); err != nil {
			t.Fatal(err)
		}
	}
	due := dueAt(-time.Second)
	for _, x := range []struct {
		p     core.Pipeline
		owner string
	}{{alive, "lease-alive"}, {dead, "lease-dead"}} {
		if err := s.ArmPoll(c, team.ID, x.p.ID, due, false); err != nil {
			t.Fatal(err)
		}
		got := must[[]store.DuePoll](t)(s.ClaimDuePolls(c, store.PollBatchClaim{Owner: x.owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 1}))
		if len(got) != 1 || got[0].Pipeline.ID != x.p.ID {
			t.Fatalf("claim by %s = %+v", x.owner, got)
		}
	}
	claim := store.PollBatchClaim{Owner: "lease-other", Now: now.Add(time.Second), LeaseUntil: now.Add(time.Hour), Limit: 10}
	if got := must[[]store.DuePoll](t)(s.ClaimDuePolls(c, claim)); len(got) != 0 {
		t.Fatalf("claim without DeadBefore took leases that hold: %+v", got)
	}
	claim.DeadBefore = now.Add(-30 * time.Second)
	got := must[[]store.DuePoll](t)(s.ClaimDuePolls(c, claim))
	if len(got) != 1 || got[0].Pipeline.ID != dead.ID {
		t.Fatalf("claim with DeadBefore = %+v, want only the dead node's poll", got)
	}
	for _, id := range []string{"lease-alive", "lease-dead"} {
		if err := s.DeleteNode(c, id); err != nil {
			t.Fatal(err)
		}
	}
}

// testPollClaimsOnce claims from several goroutines at once (nodes):
// every due schedule is claimed exactly once, earliest due first.
func testPollClaimsOnce(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	const n = 60
	due := dueAt(-time.Minute)
	for i := range n {
		p := newPolling(t, s, team.ID, fmt.Sprintf("p%d", i))
		if err := s.ArmPoll(c, team.ID, p.ID, due.Add(time.Duration(i)*time.Millisecond), false); err != nil {
			t.Fatal(err)
		}
	}
	later := newPolling(t, s, team.ID, "later")
	if err := s.ArmPoll(c, team.ID, later.ID, dueAt(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		counts = map[uuid.UUID]int{}
		wg     sync.WaitGroup
	)
	now := core.Now()
	for node := range 4 {
		wg.Go(func() {
			for {
				got, err := s.ClaimDuePolls(c, store.PollBatchClaim{Owner: fmt.Sprintf("node-%d", node), Now: now, LeaseUntil: now.Add(time.Minute), Limit: 7})
				if err != nil {
					t.Error(err)
					return
				}
				for i := 1; i < len(got); i++ {
					if got[i].Due.Before(got[i-1].Due) {
						t.Errorf("claimed out of order: %s before %s", got[i-1].Due, got[i].Due)
					}
				}
				mu.Lock()
				for _, d := range got {
					counts[d.Pipeline.ID]++
				}
				mu.Unlock()
				if len(got) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(counts) != n || counts[later.ID] != 0 {
		t.Fatalf("%d schedules claimed, want %d (and not the later one)", len(counts), n)
	}
	for id, k := range counts {
		if k != 1 {
			t.Fatalf("schedule of %s claimed %d times", id, k)
		}
	}
}

func testPollStatus(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "status")
	due := dueAt(0)
	if err := s.ArmPoll(c, team.ID, p.ID, due, false); err != nil {
		t.Fatal(err)
	}
	finish := func(due, next time.Time, status core.PipelineStatus) {
		t.Helper()
		if _, err := s.FinishPoll(c, store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next, Status: status}); err != nil {
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
	paused := newPolling(t, s, team.ID, "paused")
	unarmed2 := newPolling(t, s, team.ID, "unarmed-2")
	newPipeline(t, s, team.ID, "webhook")
	now := core.Now()
	for _, a := range []struct {
		p   core.Pipeline
		due time.Time
	}{{armed, now.Add(time.Minute)}, {overdue, now.Add(-time.Hour)}} {
		if err := s.ArmPoll(c, team.ID, a.p.ID, a.due.Truncate(time.Millisecond), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetPipelineStatus(c, team.ID, paused.ID, core.StatusPaused); err != nil {
		t.Fatal(err)
	}
	refs := must[[]store.PollRef](t)(s.UnarmedPolls(c, 100))
	got := map[uuid.UUID]bool{}
	for _, r := range refs {
		if r.TeamID == team.ID {
			got[r.PipelineID] = true
		}
	}
	if len(got) != 2 || !got[unarmed.ID] || !got[unarmed2.ID] {
		t.Fatalf("unarmed = %v, want %s and %s (no schedule)", got, unarmed.ID, unarmed2.ID)
	}
	if refs := must[[]store.PollRef](t)(s.UnarmedPolls(c, 1)); len(refs) != 1 {
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
