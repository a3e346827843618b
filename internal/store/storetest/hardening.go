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
	extra["WebhookIDsInBatch"] = testWebhookIDsInBatch
	extra["PollCommitInBatch"] = testPollCommitInBatch
	extra["StuckDeliveries"] = testStuckDeliveries
	extra["RecordBatches"] = testRecordBatches
}

// oneRecordBatch is a batch of one record for p.
func oneRecordBatch(p core.Pipeline) *store.Batch {
	now := core.Now()
	return &store.Batch{TeamID: p.TeamID, PipelineID: p.ID, Version: 1, Persist: true,
		Records: []core.Record{{TS: now, Data: json.RawMessage(`{"n":1}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: now, Fetched: 1, Stored: 1}}
}

// Issue 11, defect 4: a batch's webhook-ids commit with it; a live one
// fails the whole batch with core.ErrAlreadyReceived.
func testWebhookIDsInBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "signed")
	q := newPipeline(t, s, other.ID, "signed")
	now := core.Now().Truncate(time.Microsecond)
	id := func(name string, at time.Time) store.WebhookID {
		return store.WebhookID{Hash: store.WebhookIDHash(name), At: at, Expires: at.Add(5 * time.Minute)}
	}
	count := func(p core.Pipeline) int {
		return len(must[[]core.Record](t)(s.Records(c, p.TeamID, p.ID, store.RecordQuery{Limit: 100})))
	}

	b := oneRecordBatch(p)
	b.WebhookIDs = []store.WebhookID{id("msg_1", now), id("msg_2", now)}
	if err := s.WriteBatch(c, b); err != nil {
		t.Fatal(err)
	}
	if !must[bool](t)(s.WebhookIDSeen(c, team.ID, p.ID, store.WebhookIDHash("msg_1"), now.Add(time.Minute))) {
		t.Fatal("msg_1 not seen")
	}
	// The other team cannot read the pipeline's ids, nor does its own
	// pipeline share them.
	if must[bool](t)(s.WebhookIDSeen(c, other.ID, p.ID, store.WebhookIDHash("msg_1"), now)) {
		t.Fatal("another team sees the pipeline's ids")
	}
	bq := oneRecordBatch(q)
	bq.WebhookIDs = []store.WebhookID{id("msg_1", now)}
	if err := s.WriteBatch(c, bq); err != nil {
		t.Fatalf("the same id on another pipeline: %v", err)
	}

	// A live id fails the batch, and nothing of it is kept (its other id
	// neither).
	dup := oneRecordBatch(p)
	dup.WebhookIDs = []store.WebhookID{id("msg_3", now), id("msg_2", now.Add(time.Minute))}
	if err := s.WriteBatch(c, dup); !errors.Is(err, core.ErrAlreadyReceived) {
		t.Fatalf("duplicate id: err = %v, want ErrAlreadyReceived", err)
	}
	if n := count(p); n != 1 {
		t.Fatalf("%d records after the refused batch, want 1", n)
	}
	if must[bool](t)(s.WebhookIDSeen(c, team.ID, p.ID, store.WebhookIDHash("msg_3"), now)) {
		t.Fatal("the refused batch's other id was kept")
	}
	// Two submissions of one id in one batch fail it too.
	twice := oneRecordBatch(p)
	twice.WebhookIDs = []store.WebhookID{id("msg_4", now), id("msg_4", now)}
	if err := s.WriteBatch(c, twice); !errors.Is(err, core.ErrAlreadyReceived) {
		t.Fatalf("one id twice in a batch: err = %v, want ErrAlreadyReceived", err)
	}
	// An expired id is replaced.
	later := now.Add(10 * time.Minute)
	if must[bool](t)(s.WebhookIDSeen(c, team.ID, p.ID, store.WebhookIDHash("msg_1"), later)) {
		t.Fatal("an expired id is seen")
	}
	again := oneRecordBatch(p)
	again.WebhookIDs = []store.WebhookID{id("msg_1", later)}
	if err := s.WriteBatch(c, again); err != nil {
		t.Fatalf("an expired id: %v", err)
	}
	if n := count(p); n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
	// A batch naming another team's pipeline fails as not found.
	stolen := oneRecordBatch(p)
	stolen.TeamID = other.ID
	stolen.WebhookIDs = []store.WebhookID{id("msg_9", now)}
	if err := s.WriteBatch(c, stolen); err == nil {
		t.Fatal("another team wrote the pipeline's batch")
	}

	// Cleanup deletes only what expired: msg_2 of p and msg_1 of q (the
	// replaced msg_1 of p lives until later+5m).
	n := must[int](t)(s.DeleteExpiredWebhookIDs(c, now.Add(6*time.Minute), 1000))
	if n != 2 {
		t.Fatalf("deleted %d expired ids, want 2", n)
	}
	if !must[bool](t)(s.WebhookIDSeen(c, team.ID, p.ID, store.WebhookIDHash("msg_1"), later)) {
		t.Fatal("cleanup deleted a live id")
	}
	if n := must[int](t)(s.DeleteExpiredWebhookIDs(c, later.Add(time.Hour), 1)); n != 1 {
		t.Fatalf("limit 1 deleted %d", n)
	}
}

// Issue 11, defect 12: a poll's dedup keys and its next schedule commit in
// its batch's transaction, and a failed batch keeps neither.
func testPollCommitInBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPolling(t, s, team.ID, "poll")
	d1 := dueAt(-time.Second)
	if err := s.ArmPoll(c, team.ID, p.ID, d1, false); err != nil {
		t.Fatal(err)
	}
	now := core.Now()
	if got := claimDue(t, s, "node", now, 1); len(got) != 1 {
		t.Fatalf("claim = %+v", got)
	}
	key := []byte("key-0123456789ab")
	next := d1.Add(time.Minute)
	batch := func() *store.Batch {
		b := oneRecordBatch(p)
		b.Run.Trigger = core.TriggerPoll
		b.State = json.RawMessage(`{"due":"x"}`)
		b.Keys, b.KeysExpire = [][]byte{key, nil, key}, now.Add(time.Hour)
		b.Finish = &store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: d1, Next: next, Status: core.StatusActive}
		return b
	}

	// The poll's batch keeps its keys and moves the schedule.
	first := batch()
	if err := s.WriteBatch(c, first); err != nil {
		t.Fatal(err)
	}
	seen := must[[]bool](t)(s.SeenKeys(c, team.ID, p.ID, [][]byte{key}, now))
	if !seen[0] {
		t.Fatal("the batch's dedup key is not kept")
	}
	sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
	if !sched.NextDue.Equal(next) || sched.LeaseDue != nil {
		t.Fatalf("schedule after the batch = %+v, want next %s and no lease", sched, next)
	}

	// The next poll's batch fails (it reuses a run id): its keys and its
	// schedule are not kept.
	if got := claimDue(t, s, "node", next, 1); len(got) != 1 {
		t.Fatalf("claim of the next poll = %+v", got)
	}
	key2 := []byte("key2-0123456789a")
	failing := batch()
	failing.Run.ID = first.Run.ID // a run id already used: the insert fails
	failing.Keys = [][]byte{key2}
	failing.Finish = &store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: next, Next: next.Add(time.Minute)}
	if err := s.WriteBatch(c, failing); err == nil {
		t.Fatal("a batch reusing a run id committed")
	}
	if seen := must[[]bool](t)(s.SeenKeys(c, team.ID, p.ID, [][]byte{key2}, now)); seen[0] {
		t.Fatal("a failed batch's dedup key is kept")
	}
	if sched := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID)); !sched.NextDue.Equal(next) || sched.LeaseDue == nil {
		t.Fatalf("schedule after a failed batch = %+v, want still %s with its lease", sched, next)
	}
}

// stuckArgs is a delivery job whose worker ends it the way Outcome says.
type stuckArgs struct {
	Row     store.NewDelivery `json:"row"`
	Outcome string            `json:"outcome"` // complete, cancel, discard, snooze
}

func (stuckArgs) Kind() string { return "storetest_stuck" }

func (a stuckArgs) DeliveryRow() store.NewDelivery { return a.Row }

type stuckWorker struct {
	river.WorkerDefaults[stuckArgs]
}

func (w *stuckWorker) Work(_ context.Context, j *river.Job[stuckArgs]) error {
	switch j.Args.Outcome {
	case "complete":
		return nil
	case "cancel":
		return river.JobCancel(errors.New("cancelled"))
	case "snooze":
		return river.JobSnooze(time.Hour)
	}
	return errors.New("failed for good")
}

// Issue 11, defect 12: deliveries left pending or retrying by a job that
// ended (completed, cancelled, discarded) are found for the reconciler;
// live ones and finished ones are not.
func testStuckDeliveries(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "stuck")
	workers := river.NewWorkers()
	river.AddWorker(workers, &stuckWorker{})
	client := must[store.JobClient](t)(s.NewJobClient(&river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}}, Workers: workers,
		FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true,
	}))
	if err := client.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	args := map[string]stuckArgs{}
	var params []river.InsertManyParams
	for _, o := range []string{"complete", "cancel", "discard", "snooze"} {
		a := stuckArgs{Row: newDeliveryArgs(p, "out", 2).Row, Outcome: o}
		args[o] = a
		params = append(params, river.InsertManyParams{Args: a, InsertOpts: &river.InsertOpts{MaxAttempts: 1}})
	}
	b := oneRecordBatch(p)
	b.Jobs = func([]core.Record) ([]river.InsertManyParams, error) { return params, nil }
	if err := s.WriteBatch(c, b); err != nil {
		t.Fatal(err)
	}
	later := core.Now().Add(time.Hour)
	deadline := time.Now().Add(20 * time.Second)
	var stuck []store.StuckDelivery
	for {
		stuck = must[[]store.StuckDelivery](t)(s.StuckDeliveries(c, later, 100))
		if len(stuck) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling for the jobs to end
	}
	got := map[uuid.UUID]store.StuckDelivery{}
	for _, d := range stuck {
		got[d.ID] = d
	}
	for o, want := range map[string]string{"complete": "completed", "cancel": "cancelled", "discard": "discarded"} {
		d, ok := got[args[o].Row.ID]
		if !ok || d.JobState != want || d.Status != core.DeliveryPending || d.Records != 2 || d.TeamID != team.ID || d.Sink != "out" || !json.Valid(d.Args) {
			t.Errorf("%s: stuck = %+v (found %v), want job %s", o, d, ok, want)
		}
	}
	if _, ok := got[args["snooze"].Row.ID]; ok || len(stuck) != 3 {
		t.Errorf("stuck = %+v: a delivery whose job will run again is listed", stuck)
	}
	// Recently updated rows are left alone (the grace period).
	if early := must[[]store.StuckDelivery](t)(s.StuckDeliveries(c, core.Now().Add(-time.Hour), 100)); len(early) != 0 {
		t.Errorf("rows updated after before are listed: %+v", early)
	}
	// Once given an outcome, a delivery is not stuck any more.
	d := got[args["discard"].Row.ID]
	if _, err := s.RecordDelivery(c, store.DeliveryOutcome{TeamID: d.TeamID, PipelineID: d.PipelineID, Sink: d.Sink, ID: d.ID,
		Status: core.DeliveryDead, At: core.Now(), Error: "no outcome", Payload: d.Args}); err != nil {
		t.Fatal(err)
	}
	if again := must[[]store.StuckDelivery](t)(s.StuckDeliveries(c, later, 100)); len(again) != 2 {
		t.Errorf("after an outcome: %d stuck, want 2", len(again))
	}
}

// Issue 11, defect 11: a persisted batch keeps its id ranges, for
// replays that deliver it as it was delivered first.
func testRecordBatches(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "batches")
	now := core.Now().Truncate(time.Microsecond)
	write := func(n int, persist bool) *store.Batch {
		b := oneRecordBatch(p)
		b.Persist = persist
		b.Records = nil
		for i := range n {
			b.Records = append(b.Records, core.Record{TS: now.Add(time.Duration(i-n) * time.Second), Data: json.RawMessage(`{"n":1}`)})
		}
		if err := s.WriteBatch(c, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1, b2 := write(3, true), write(2, true)
	write(4, false)
	ids := []int64{b2.Records[1].ID, b1.Records[0].ID, b1.Records[2].ID}
	got := must[[]store.RecordBatch](t)(s.RecordBatches(c, team.ID, p.ID, ids))
	if len(got) != 2 {
		t.Fatalf("batches = %+v, want 2", got)
	}
	for i, b := range []*store.Batch{b1, b2} {
		g := got[i]
		if g.FirstID() != b.Records[0].ID || store.CountIDs(g.Ranges) != len(b.Records) || g.Records != len(b.Records) ||
			!g.From.Equal(b.Records[0].TS) || !g.To.Equal(b.Records[len(b.Records)-1].TS) {
			t.Errorf("batch %d = %+v, want the ids %d.. of %d records", i, g, b.Records[0].ID, len(b.Records))
		}
	}
	if got := must[[]store.RecordBatch](t)(s.RecordBatches(c, other.ID, p.ID, ids)); len(got) != 0 {
		t.Errorf("another team reads the pipeline's batches: %+v", got)
	}
	if got := must[[]store.RecordBatch](t)(s.RecordBatches(c, team.ID, p.ID, []int64{b2.Records[1].ID + 1000})); len(got) != 0 {
		t.Errorf("an unknown id has batches %+v", got)
	}
}
