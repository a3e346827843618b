package storetest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["DeliveriesWithBatch"] = testDeliveriesWithBatch
	extra["DeliveryOutcomes"] = testDeliveryOutcomes
	extra["DeliveryRetryByHand"] = testDeliveryRetryByHand
	extra["DeliveryListing"] = testDeliveryListing
	extra["DeliveryIsolation"] = testDeliveryIsolation
	extra["SinkStatus"] = testSinkStatus
	extra["SinkHealthUnderConcurrency"] = testSinkHealthConcurrent
	extra["Replays"] = testReplays
	extra["DeliveryCleanup"] = testDeliveryCleanup
	extra["DeliveryClaim"] = testDeliveryClaim
}

// deliveryArgs is a delivery job as the store sees it: any args with a
// row. Nothing works these jobs in the suite.
type deliveryArgs struct {
	Row store.NewDelivery `json:"row"`
}

func (deliveryArgs) Kind() string { return "storetest_delivery" }

func (a deliveryArgs) DeliveryRow() store.NewDelivery { return a.Row }

func newDeliveryArgs(p core.Pipeline, sink string, records int) deliveryArgs {
	now := core.Now()
	return deliveryArgs{Row: store.NewDelivery{
		ID: core.NewID(), TeamID: p.TeamID, PipelineID: p.ID, Sink: sink, Key: "dlv_" + uuid.NewString(),
		RunID: core.NewID(), Records: records, From: now.Add(-time.Minute), To: now, CreatedAt: now,
	}}
}

// enqueueDeliveries commits a batch of one record whose jobs are the
// given deliveries, and returns their rows' ids.
func enqueueDeliveries(t *testing.T, s store.Store, p core.Pipeline, args ...deliveryArgs) []uuid.UUID {
	t.Helper()
	b := &store.Batch{TeamID: p.TeamID, PipelineID: p.ID, Version: p.Version, Persist: true,
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"a":1}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()},
		Jobs: func([]core.Record) ([]river.InsertManyParams, error) {
			var out []river.InsertManyParams
			for _, a := range args {
				out = append(out, river.InsertManyParams{Args: a})
			}
			return out, nil
		}}
	if err := s.WriteBatch(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(args))
	for i, a := range args {
		ids[i] = a.Row.ID
	}
	return ids
}

func testDeliveriesWithBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "sinks")
	a := newDeliveryArgs(p, "alerts", 3)
	// A batch with a delivery job and an ordinary job: one row.
	b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"a":1}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()},
		Jobs: func([]core.Record) ([]river.InsertManyParams, error) {
			return []river.InsertManyParams{{Args: batchJobArgs{Pipeline: p.ID}}, {Args: a}}, nil
		}}
	if err := s.WriteBatch(c, b); err != nil {
		t.Fatal(err)
	}
	d := must[core.Delivery](t)(s.Delivery(c, team.ID, a.Row.ID))
	want := a.Row
	if d.ID != want.ID || d.TeamID != team.ID || d.PipelineID != p.ID || d.Sink != "alerts" || d.Key != want.Key || d.RunID != want.RunID ||
		d.ReplayID != uuid.Nil || d.Records != 3 || !d.From.Equal(want.From) || !d.To.Equal(want.To) || d.Status != core.DeliveryPending ||
		d.Attempts != 0 || d.LastError != "" || d.DeliveredAt != nil || d.LastAttemptAt != nil {
		t.Fatalf("delivery = %+v, want pending %+v", d, want)
	}
	if all := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, store.DeliveryQuery{})); len(all) != 1 {
		t.Fatalf("%d deliveries, want 1", len(all))
	}

	// A batch that fails leaves no delivery behind.
	bad := newDeliveryArgs(p, "alerts", 1)
	b2 := &store.Batch{TeamID: team.ID, PipelineID: uuid.New(), Version: 1, Persist: true,
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"a":1}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()},
		Jobs: func([]core.Record) ([]river.InsertManyParams, error) {
			return []river.InsertManyParams{{Args: bad}}, nil
		}}
	if err := s.WriteBatch(c, b2); err == nil {
		t.Fatal("a batch of an unknown pipeline committed")
	}
	if _, err := s.Delivery(c, team.ID, bad.Row.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delivery of a failed batch: err = %v", err)
	}

	// Deleting the pipeline deletes its deliveries and sink states.
	must[core.SinkState](t)(s.SetSinkStatus(c, team.ID, p.ID, "alerts", core.SinkActive, ""))
	if err := s.DeletePipeline(c, team.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delivery(c, team.ID, a.Row.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delivery of a deleted pipeline: err = %v", err)
	}
}

func testDeliveryOutcomes(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "outcomes")
	ids := enqueueDeliveries(t, s, p, newDeliveryArgs(p, "hook", 5), newDeliveryArgs(p, "hook", 2))
	record := func(o store.DeliveryOutcome) core.SinkState {
		t.Helper()
		o.TeamID, o.PipelineID, o.Sink, o.FailingAfter = team.ID, p.ID, "hook", 3
		if o.At.IsZero() {
			o.At = core.Now()
		}
		return must[core.SinkState](t)(s.RecordDelivery(c, o))
	}

	// Two failed attempts: retrying, the sink still active.
	next := core.Now().Add(time.Minute)
	st := record(store.DeliveryOutcome{ID: ids[0], Status: core.DeliveryRetrying, Attempt: 1, Error: "503 busy", NextAttemptAt: &next, Duration: 40 * time.Millisecond})
	if st.Status != core.SinkActive || st.ConsecutiveFailures != 1 || st.Failed != 1 || st.LastFailureAt == nil {
		t.Fatalf("state after one failure = %+v", st)
	}
	st = record(store.DeliveryOutcome{ID: ids[0], Status: core.DeliveryRetrying, Attempt: 2, Error: "503 busy", NextAttemptAt: &next})
	d := must[core.Delivery](t)(s.Delivery(c, team.ID, ids[0]))
	if d.Status != core.DeliveryRetrying || d.Attempts != 2 || d.LastError != "503 busy" || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(next) || d.LastAttemptAt == nil {
		t.Fatalf("delivery after two failures = %+v", d)
	}
	// The third failure in a row makes the sink failing.
	st = record(store.DeliveryOutcome{ID: ids[1], Status: core.DeliveryRetrying, Attempt: 1, Error: "timeout", NextAttemptAt: &next})
	if st.Status != core.SinkFailing || st.ConsecutiveFailures != 3 || st.Reason == "" {
		t.Fatalf("state after three failures = %+v", st)
	}
	// A success makes it active again and counts the records and latency.
	at := core.Now().Add(2 * time.Second)
	st = record(store.DeliveryOutcome{ID: ids[0], Status: core.DeliveryDelivered, Attempt: 3, At: at, Records: 5, Duration: 10 * time.Millisecond})
	if st.Status != core.SinkActive || st.ConsecutiveFailures != 0 || st.Delivered != 1 || st.Records != 5 || st.Failed != 3 || st.Reason != "" ||
		st.LatencyTotal <= 0 || st.LastSuccessAt == nil {
		t.Fatalf("state after a success = %+v", st)
	}
	d = must[core.Delivery](t)(s.Delivery(c, team.ID, ids[0]))
	if d.Status != core.DeliveryDelivered || d.Attempts != 3 || d.LastError != "" || d.DeliveredAt == nil || !d.DeliveredAt.Equal(at) ||
		d.Latency <= 0 || d.Duration != 10*time.Millisecond {
		t.Fatalf("delivered delivery = %+v", d)
	}
	// A rescued job that succeeds again does not count twice.
	st = record(store.DeliveryOutcome{ID: ids[0], Status: core.DeliveryDelivered, Attempt: 4, Records: 5})
	if st.Delivered != 1 || st.Records != 5 {
		t.Fatalf("state after a repeated success = %+v", st)
	}
	// Dead keeps the payload for a retry by hand and counts as dead.
	st = record(store.DeliveryOutcome{ID: ids[1], Status: core.DeliveryDead, Attempt: 2, Error: "410 gone", Payload: json.RawMessage(`{"x":1}`)})
	if st.Dead != 1 || st.Failed != 4 {
		t.Fatalf("state after a dead delivery = %+v", st)
	}
	if d := must[core.Delivery](t)(s.Delivery(c, team.ID, ids[1])); d.Status != core.DeliveryDead || d.LastError != "410 gone" || d.Attempts != 2 {
		t.Fatalf("dead delivery = %+v", d)
	}
	if _, err := s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: uuid.New(),
		Status: core.DeliveryDelivered, At: core.Now()}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("outcome of an unknown delivery: err = %v", err)
	}
	states := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, p.ID))
	if len(states) != 1 || states[0].Sink != "hook" || states[0].Dead != 1 {
		t.Fatalf("sink states = %+v", states)
	}
}

// testSinkHealthConcurrent records failures of one sink at once, from a
// sink without a state: each is counted, none is lost to a race between
// reading the health and writing the next.
func testSinkHealthConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "concurrent")
	const n = 8
	args := make([]deliveryArgs, n)
	for i := range args {
		args[i] = newDeliveryArgs(p, "hook", 1)
	}
	ids := enqueueDeliveries(t, s, p, args...)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: id,
				Status: core.DeliveryRetrying, Attempt: 1, At: core.Now(), Error: "boom", FailingAfter: n})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	states := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, p.ID))
	if len(states) != 1 || states[0].ConsecutiveFailures != n || states[0].Failed != n || states[0].Status != core.SinkFailing {
		t.Fatalf("sink states after %d concurrent failures = %+v", n, states)
	}
}

func testDeliveryRetryByHand(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "retry")
	a := newDeliveryArgs(p, "hook", 1)
	id := enqueueDeliveries(t, s, p, a)[0]
	job := func(payload json.RawMessage) (river.InsertManyParams, error) {
		var args deliveryArgs
		if err := json.Unmarshal(payload, &args); err != nil {
			return river.InsertManyParams{}, err
		}
		return river.InsertManyParams{Args: args}, nil
	}
	if _, err := s.RetryDelivery(c, team.ID, id, job); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("retry of a pending delivery: err = %v, want ErrConflict", err)
	}
	payload := must[[]byte](t)(json.Marshal(a))
	must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: id,
		Status: core.DeliveryDead, Attempt: 8, At: core.Now(), Error: "gave up", Payload: payload}))
	if _, err := s.RetryDelivery(c, uuid.New(), id, job); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("retry through another team: err = %v", err)
	}
	if _, err := s.RetryDelivery(c, team.ID, id, func(json.RawMessage) (river.InsertManyParams, error) {
		return river.InsertManyParams{}, errors.New("cannot")
	}); err == nil {
		t.Fatal("a retry whose job cannot be built succeeded")
	}
	d := must[core.Delivery](t)(s.RetryDelivery(c, team.ID, id, job))
	if d.Status != core.DeliveryPending || d.ID != id || d.Key != a.Row.Key || d.Attempts != 8 || d.LastError != "gave up" {
		t.Fatalf("retried delivery = %+v", d)
	}
	if _, err := s.RetryDelivery(c, team.ID, id, job); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("second retry: err = %v, want ErrConflict", err)
	}
}

func testDeliveryListing(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "listing")
	var ids []uuid.UUID
	for range 5 {
		ids = append(ids, enqueueDeliveries(t, s, p, newDeliveryArgs(p, "a", 1), newDeliveryArgs(p, "b", 1))...)
	}
	must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "a", ID: ids[0],
		Status: core.DeliveryDead, Attempt: 1, At: core.Now(), Error: "no", Payload: json.RawMessage(`{}`)}))

	all := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, store.DeliveryQuery{}))
	if len(all) != 10 {
		t.Fatalf("%d deliveries, want 10", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID.String() >= all[i-1].ID.String() {
			t.Fatalf("deliveries not newest first: %s after %s", all[i].ID, all[i-1].ID)
		}
	}
	a := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, store.DeliveryQuery{Sink: "a"}))
	if len(a) != 5 {
		t.Fatalf("%d deliveries of sink a, want 5", len(a))
	}
	dead := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, store.DeliveryQuery{Sink: "a", Status: core.DeliveryDead}))
	if len(dead) != 1 || dead[0].ID != ids[0] {
		t.Fatalf("dead deliveries = %+v", dead)
	}
	// Paging.
	var paged []uuid.UUID
	q := store.DeliveryQuery{Limit: 3}
	for {
		page := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, q))
		for _, d := range page {
			paged = append(paged, d.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.BeforeID = page[len(page)-1].ID
	}
	if len(paged) != 10 {
		t.Fatalf("paged through %d deliveries, want 10", len(paged))
	}
}

func testDeliveryIsolation(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "mine")
	id := enqueueDeliveries(t, s, p, newDeliveryArgs(p, "hook", 1))[0]
	if _, err := s.Delivery(c, other.ID, id); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delivery through another team: err = %v", err)
	}
	if ds := must[[]core.Delivery](t)(s.Deliveries(c, other.ID, p.ID, store.DeliveryQuery{})); len(ds) != 0 {
		t.Fatalf("deliveries through another team = %+v", ds)
	}
	if _, err := s.RecordDelivery(c, store.DeliveryOutcome{TeamID: other.ID, PipelineID: p.ID, Sink: "hook", ID: id,
		Status: core.DeliveryDelivered, At: core.Now()}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("outcome through another team: err = %v", err)
	}
	if _, err := s.SetSinkStatus(c, other.ID, p.ID, "hook", core.SinkDisabled, "x"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("sink status through another team: err = %v", err)
	}
	must[core.SinkState](t)(s.SetSinkStatus(c, team.ID, p.ID, "hook", core.SinkFailing, "x"))
	if sts := must[[]core.SinkState](t)(s.SinkStates(c, other.ID, p.ID)); len(sts) != 0 {
		t.Fatalf("sink states through another team = %+v", sts)
	}
	from, to := core.Now().Add(-time.Hour), core.Now()
	if _, err := s.CreateReplay(c, store.NewReplay{ID: core.NewID(), TeamID: other.ID, PipelineID: p.ID, Sink: "hook", From: from, To: to},
		river.InsertManyParams{Args: batchJobArgs{}}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("replay through another team: err = %v", err)
	}
	r := must[core.Replay](t)(s.CreateReplay(c, store.NewReplay{ID: core.NewID(), TeamID: team.ID, PipelineID: p.ID, Sink: "hook", From: from, To: to},
		river.InsertManyParams{Args: batchJobArgs{}}))
	if _, err := s.Replay(c, other.ID, r.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("replay through another team: err = %v", err)
	}
	if _, err := s.ReplayCursor(c, other.ID, r.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("replay cursor through another team: err = %v", err)
	}
	if err := s.AdvanceReplay(c, store.ReplayStep{TeamID: other.ID, ID: r.ID, Enqueued: 1}, nil); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("advance replay through another team: err = %v", err)
	}
	if rs := must[[]core.Replay](t)(s.Replays(c, other.ID, p.ID, "hook")); len(rs) != 0 {
		t.Fatalf("replays through another team = %+v", rs)
	}
}

func testSinkStatus(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "status")
	ids := enqueueDeliveries(t, s, p, newDeliveryArgs(p, "hook", 1), newDeliveryArgs(p, "hook", 1))
	if _, err := s.SetSinkStatus(c, team.ID, uuid.New(), "hook", core.SinkDisabled, "x"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("status of a sink of an unknown pipeline: err = %v", err)
	}
	st := must[core.SinkState](t)(s.SetSinkStatus(c, team.ID, p.ID, "hook", core.SinkDisabled, "410 gone"))
	if st.Status != core.SinkDisabled || st.Reason != "410 gone" {
		t.Fatalf("disabled state = %+v", st)
	}
	// Outcomes of deliveries in flight do not enable it again.
	st = must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: ids[0],
		Status: core.DeliveryDelivered, Attempt: 1, At: core.Now(), Records: 1, FailingAfter: 1}))
	if st.Status != core.SinkDisabled || st.Reason != "410 gone" || st.Delivered != 1 {
		t.Fatalf("disabled state after a success = %+v", st)
	}
	st = must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: ids[1],
		Status: core.DeliveryRetrying, Attempt: 1, At: core.Now(), Error: "x", FailingAfter: 1}))
	if st.Status != core.SinkDisabled || st.ConsecutiveFailures != 1 {
		t.Fatalf("disabled state after a failure = %+v", st)
	}
	// Enabling clears the run of failures.
	st = must[core.SinkState](t)(s.SetSinkStatus(c, team.ID, p.ID, "hook", core.SinkActive, ""))
	if st.Status != core.SinkActive || st.ConsecutiveFailures != 0 || st.Delivered != 1 || st.Failed != 1 {
		t.Fatalf("enabled state = %+v", st)
	}
	if err := s.DeleteSinkState(c, team.ID, p.ID, "hook"); err != nil {
		t.Fatal(err)
	}
	if sts := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, p.ID)); len(sts) != 0 {
		t.Fatalf("states after delete = %+v", sts)
	}
	// The first failure of a sink that fails after one failure.
	p2 := newPipeline(t, s, team.ID, "status2")
	id := enqueueDeliveries(t, s, p2, newDeliveryArgs(p2, "x", 1))[0]
	st = must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p2.ID, Sink: "x", ID: id,
		Status: core.DeliveryRetrying, Attempt: 1, At: core.Now(), Error: "boom", FailingAfter: 1}))
	if st.Status != core.SinkFailing || st.Reason == "" {
		t.Fatalf("state after a first failure with FailingAfter 1 = %+v", st)
	}
}

func testReplays(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "replay")
	end := core.Now().Truncate(time.Second)
	writeRecords(t, s, team.ID, p.ID, 2, 10, end) // 20 records, one second apart, ending at end
	from, to := end.Add(-14*time.Second), end     // 14 records: end-14s .. end-1s
	r := must[core.Replay](t)(s.CreateReplay(c, store.NewReplay{ID: core.NewID(), TeamID: team.ID, PipelineID: p.ID, Sink: "hook", From: from, To: to},
		river.InsertManyParams{Args: batchJobArgs{Pipeline: p.ID}}))
	if r.Status != core.ReplayRunning || r.Total != 14 || r.Enqueued != 0 || !r.From.Equal(from) || !r.To.Equal(to) || r.Sink != "hook" {
		t.Fatalf("new replay = %+v", r)
	}
	cur := must[store.ReplayCursor](t)(s.ReplayCursor(c, team.ID, r.ID))
	if !cur.TS.IsZero() || cur.ID != 0 {
		t.Fatalf("cursor of a new replay = %+v", cur)
	}
	// A step hands two deliveries of records to the sink.
	a1, a2 := newDeliveryArgs(p, "hook", 7), newDeliveryArgs(p, "hook", 3)
	a1.Row.ReplayID, a2.Row.ReplayID, a1.Row.RunID, a2.Row.RunID = r.ID, r.ID, uuid.Nil, uuid.Nil
	cursorTS := end.Add(-10 * time.Second)
	if err := s.AdvanceReplay(c, store.ReplayStep{TeamID: team.ID, ID: r.ID, Enqueued: 10, CursorTS: cursorTS, CursorID: 42},
		[]river.InsertManyParams{{Args: a1}, {Args: a2}}); err != nil {
		t.Fatal(err)
	}
	cur = must[store.ReplayCursor](t)(s.ReplayCursor(c, team.ID, r.ID))
	if !cur.TS.Equal(cursorTS) || cur.ID != 42 {
		t.Fatalf("cursor = %+v", cur)
	}
	must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: a1.Row.ID,
		Status: core.DeliveryDelivered, Attempt: 1, At: core.Now(), Records: 7}))
	got := must[core.Replay](t)(s.Replay(c, team.ID, r.ID))
	if got.Enqueued != 10 || got.Deliveries[core.DeliveryDelivered] != 1 || got.Deliveries[core.DeliveryPending] != 1 || got.RecordsDelivered != 7 {
		t.Fatalf("replay progress = %+v", got)
	}
	if ds := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, store.DeliveryQuery{ReplayID: r.ID})); len(ds) != 2 || ds[0].ReplayID != r.ID || ds[0].RunID != uuid.Nil {
		t.Fatalf("replay deliveries = %+v", ds)
	}
	// The last step ends it.
	if err := s.AdvanceReplay(c, store.ReplayStep{TeamID: team.ID, ID: r.ID, Enqueued: 4, Status: core.ReplayDone}, nil); err != nil {
		t.Fatal(err)
	}
	got = must[core.Replay](t)(s.Replay(c, team.ID, r.ID))
	if got.Status != core.ReplayDone || got.Enqueued != 14 || got.FinishedAt == nil {
		t.Fatalf("finished replay = %+v", got)
	}
	if _, err := s.ReplayCursor(c, team.ID, r.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("cursor of a finished replay: err = %v", err)
	}
	if err := s.AdvanceReplay(c, store.ReplayStep{TeamID: team.ID, ID: r.ID, Enqueued: 1}, nil); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("step of a finished replay: err = %v", err)
	}
	// Listing, newest first.
	r2 := must[core.Replay](t)(s.CreateReplay(c, store.NewReplay{ID: core.NewID(), TeamID: team.ID, PipelineID: p.ID, Sink: "hook", From: from, To: to},
		river.InsertManyParams{Args: batchJobArgs{Pipeline: p.ID}}))
	rs := must[[]core.Replay](t)(s.Replays(c, team.ID, p.ID, "hook"))
	if len(rs) != 2 || rs[0].ID != r2.ID || rs[1].ID != r.ID {
		t.Fatalf("replays = %+v", rs)
	}
	if rs := must[[]core.Replay](t)(s.Replays(c, team.ID, p.ID, "other")); len(rs) != 0 {
		t.Fatalf("replays of another sink = %+v", rs)
	}
	if err := s.AdvanceReplay(c, store.ReplayStep{TeamID: team.ID, ID: r2.ID, Status: core.ReplayFailed, Error: "boom"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := must[core.Replay](t)(s.Replay(c, team.ID, r2.ID)); got.Status != core.ReplayFailed || got.Error != "boom" {
		t.Fatalf("failed replay = %+v", got)
	}
}

func testDeliveryCleanup(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "cleanup")
	ids := enqueueDeliveries(t, s, p, newDeliveryArgs(p, "h", 1), newDeliveryArgs(p, "h", 1), newDeliveryArgs(p, "h", 1))
	outcome := func(id uuid.UUID, status core.DeliveryStatus) {
		must[core.SinkState](t)(s.RecordDelivery(c, store.DeliveryOutcome{TeamID: team.ID, PipelineID: p.ID, Sink: "h", ID: id,
			Status: status, Attempt: 1, At: core.Now(), Error: "e", Payload: json.RawMessage(`{}`)}))
	}
	outcome(ids[0], core.DeliveryDelivered)
	outcome(ids[1], core.DeliveryDead)
	// Nothing is old enough yet.
	if n := must[int](t)(s.DeleteDeliveries(c, store.DeliveryCleanup{DeliveredBefore: core.Now().Add(-time.Hour), DeadBefore: core.Now().Add(-time.Hour)})); n != 0 {
		t.Fatalf("deleted %d young deliveries", n)
	}
	// Delivered ones go first; pending ones never.
	future := core.Now().Add(time.Hour)
	if n := must[int](t)(s.DeleteDeliveries(c, store.DeliveryCleanup{DeliveredBefore: future, DeadBefore: core.Now().Add(-time.Hour)})); n != 1 {
		t.Fatalf("deleted %d deliveries, want the delivered one", n)
	}
	if n := must[int](t)(s.DeleteDeliveries(c, store.DeliveryCleanup{DeliveredBefore: future, DeadBefore: future})); n != 1 {
		t.Fatalf("deleted %d deliveries, want the dead one", n)
	}
	if ds := must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, store.DeliveryQuery{})); len(ds) != 1 || ds[0].ID != ids[2] {
		t.Fatalf("deliveries left = %+v", ds)
	}
}

func testDeliveryClaim(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "claims")
	var args []deliveryArgs
	var ids []uuid.UUID
	for range 5 {
		a := newDeliveryArgs(p, "hook", 1)
		args = append(args, a)
		ids = append(ids, enqueueDeliveries(t, s, p, a)[0])
	}
	elsewhere := enqueueDeliveries(t, s, p, newDeliveryArgs(p, "other", 1))[0]
	const carrier, second = int64(1) << 50, int64(1)<<50 + 1 // no such jobs: the store does not need them
	claim := func(teamID uuid.UUID, job int64, limit, records int) []store.CarriedDelivery {
		t.Helper()
		return must[[]store.CarriedDelivery](t)(s.ClaimDeliveries(c, store.DeliveryClaim{
			TeamID: teamID, PipelineID: p.ID, Sink: "hook", Carrier: job, Own: ids[0], Limit: limit, MaxRecords: records}))
	}
	idsOf := func(cs []store.CarriedDelivery) []uuid.UUID {
		var out []uuid.UUID
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if got := claim(other.ID, carrier, 10, 100); len(got) != 0 {
		t.Fatalf("another team claimed %v", idsOf(got))
	}
	got := claim(team.ID, carrier, 2, 100)
	if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[2] || got[0].Status != core.DeliveryPending {
		t.Fatalf("claimed %v, want %v (oldest first, never the carrier's own)", idsOf(got), ids[1:3])
	}
	var a deliveryArgs
	if err := json.Unmarshal(got[0].Args, &a); err != nil || a.Row.ID != ids[1] || a.Row.Key != args[1].Row.Key {
		t.Fatalf("carried args %s: %v", got[0].Args, err)
	}
	// Run again, the carrier finds what it carries and takes no more.
	if again := claim(team.ID, carrier, 0, 100); len(again) != 2 || again[0].ID != ids[1] || again[1].ID != ids[2] {
		t.Fatalf("carried again %v, want %v", idsOf(again), ids[1:3])
	}
	// Another job takes the next, at least one whatever the record cap;
	// what the first carries is not taken twice.
	if next := claim(team.ID, second, 10, 1); len(next) != 1 || next[0].ID != ids[3] {
		t.Fatalf("second carrier claimed %v, want [%v]", idsOf(next), ids[3])
	}
	if d := must[core.Delivery](t)(s.Delivery(c, team.ID, elsewhere)); d.Status != core.DeliveryPending {
		t.Fatalf("the other sink's delivery = %+v", d)
	}

	// Outcomes of carried deliveries, in one transaction: a dead one keeps
	// its own job's arguments, so that it can be retried by hand.
	now := core.Now()
	st := must[core.SinkState](t)(s.RecordDeliveries(c, []store.DeliveryOutcome{
		{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: ids[1], Status: core.DeliveryDelivered, Attempt: 1, At: now, Records: 1},
		{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: ids[2], Status: core.DeliveryDead, Attempt: 1, At: now, Error: "400"},
		{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: ids[1], Status: core.DeliveryDelivered, Attempt: 1, At: now, Records: 1},
	}))
	if st.Delivered != 1 || st.Records != 1 || st.Dead != 1 || st.Failed != 1 {
		t.Fatalf("sink state after outcomes = %+v (a delivery delivered twice counts once)", st)
	}
	if _, err := s.RecordDeliveries(c, []store.DeliveryOutcome{
		{TeamID: team.ID, PipelineID: p.ID, Sink: "hook", ID: ids[3], Status: core.DeliveryDelivered, At: now},
		{TeamID: team.ID, PipelineID: p.ID, Sink: "other", ID: elsewhere, Status: core.DeliveryDelivered, At: now},
	}); err == nil {
		t.Fatal("outcomes of two sinks were recorded together")
	}
	d := must[core.Delivery](t)(s.RetryDelivery(c, team.ID, ids[2], func(payload json.RawMessage) (river.InsertManyParams, error) {
		var a deliveryArgs
		if err := json.Unmarshal(payload, &a); err != nil {
			return river.InsertManyParams{}, err
		}
		return river.InsertManyParams{Args: a}, nil
	}))
	if d.Status != core.DeliveryPending || d.Key != args[2].Row.Key {
		t.Fatalf("retried carried delivery = %+v", d)
	}
	// Outcomes recorded through another team change nothing.
	must[core.SinkState](t)(s.RecordDeliveries(c, []store.DeliveryOutcome{
		{TeamID: other.ID, PipelineID: p.ID, Sink: "hook", ID: ids[3], Status: core.DeliveryDelivered, At: now}}))
	if d := must[core.Delivery](t)(s.Delivery(c, team.ID, ids[3])); d.Status != core.DeliveryPending {
		t.Fatalf("a delivery recorded through another team = %+v", d)
	}
}
