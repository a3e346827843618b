package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["BatchReads"] = testBatchReads
}

// testBatchReads checks each batch read answers what the per-pipeline
// reads answer, for the team's pipelines only.
func testBatchReads(t *testing.T, s store.Store) {
	br, ok := s.(store.BatchReads)
	if !ok {
		t.Fatal("the store does not implement store.BatchReads")
	}
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	var ids []uuid.UUID
	for i, name := range []string{"a", "b", "c"} {
		p := newPipeline(t, s, team.ID, name)
		ids = append(ids, p.ID)
		// a: 3 runs, b: 1 run, c: none.
		for range 3 - i*2 {
			writeRecords(t, s, team.ID, p.ID, 1, 1, time.Now())
		}
		if i < 2 {
			must[core.SinkState](t)(s.SetSinkStatus(c, team.ID, p.ID, "hook", core.SinkFailing, "down"))
			must[core.SinkState](t)(s.SetSinkStatus(c, team.ID, p.ID, "archive", core.SinkActive, ""))
		}
	}
	down := must[core.Pipeline](t)(newP2P(t, s, team.ID, "down", ids[0]))
	theirs := newPipeline(t, s, other.ID, "theirs")
	writeRecords(t, s, other.ID, theirs.ID, 1, 1, time.Now())
	must[core.SinkState](t)(s.SetSinkStatus(c, other.ID, theirs.ID, "hook", core.SinkActive, ""))
	asked := append(append([]uuid.UUID{}, ids...), theirs.ID, uuid.New())

	runs := must[map[uuid.UUID][]core.Run](t)(br.RunsOfPipelines(c, team.ID, asked, 2))
	for _, id := range ids {
		want := must[[]core.Run](t)(s.Runs(c, team.ID, id, store.RunQuery{Limit: 2}))
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(runs[id], want) {
			t.Errorf("runs of %s: batch %+v, one by one %+v", id, runs[id], want)
		}
	}
	if len(runs[ids[0]]) != 2 || len(runs[ids[1]]) != 1 || len(runs[theirs.ID]) != 0 || len(runs) > 2 {
		t.Errorf("runs of pipelines: %d entries %+v", len(runs), runs)
	}

	states := must[map[uuid.UUID][]core.SinkState](t)(br.SinkStatesOfPipelines(c, team.ID, asked))
	for _, id := range ids {
		want := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, id))
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(states[id], want) {
			t.Errorf("sink states of %s: batch %+v, one by one %+v", id, states[id], want)
		}
	}
	if len(states[ids[0]]) != 2 || len(states[theirs.ID]) != 0 {
		t.Errorf("sink states of pipelines: %+v", states)
	}

	downs := must[map[uuid.UUID][]uuid.UUID](t)(br.DownstreamsOfPipelines(c, team.ID, asked))
	if len(downs) != 1 || !reflect.DeepEqual(downs[ids[0]], []uuid.UUID{down.ID}) {
		t.Errorf("downstreams of pipelines: %+v", downs)
	}
	if d := must[map[uuid.UUID][]uuid.UUID](t)(br.DownstreamsOfPipelines(c, other.ID, ids)); len(d) != 0 {
		t.Errorf("another team reads downstreams: %+v", d)
	}
	if r := must[map[uuid.UUID][]core.Run](t)(br.RunsOfPipelines(c, team.ID, nil, 5)); len(r) != 0 {
		t.Errorf("runs of no pipelines: %+v", r)
	}
	testBatchChildren(t, s, br)
}

// testBatchChildren checks the batch reads of a list's other children
// (records, rejected records, deliveries, replays, uploads, storage,
// schedules) against the per-pipeline reads.
func testBatchChildren(t *testing.T, s store.Store, br store.BatchReads) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	now := core.Now().Truncate(time.Second)
	var ps []core.Pipeline
	for i, name := range []string{"a", "b", "c"} {
		p := newPolling(t, s, team.ID, name)
		ps = append(ps, p)
		if i == 2 {
			continue // c: nothing at all
		}
		writeRecords(t, s, team.ID, p.ID, 2, 3-i, now)
		b := oneRecordBatch(p)
		b.Rejected = []core.Rejected{{ReceivedAt: now, Raw: json.RawMessage(`{"x":1}`), Reason: "one"}, {ReceivedAt: now, Raw: json.RawMessage(`{"x":2}`), Reason: "two"}}
		if err := s.WriteBatch(c, b); err != nil {
			t.Fatal(err)
		}
		enqueueDeliveries(t, s, p, newDeliveryArgs(p, "hook", 1), newDeliveryArgs(p, "hook", 2), newDeliveryArgs(p, "archive", 3))
		must[core.Replay](t)(s.CreateReplay(c, store.NewReplay{ID: core.NewID(), TeamID: team.ID, PipelineID: p.ID, Sink: "hook", From: now.Add(-time.Hour), To: now},
			river.InsertManyParams{Args: batchJobArgs{}}))
		newUpload(t, s, team.ID, p.ID)
		newUpload(t, s, team.ID, p.ID)
		due := dueAt(time.Duration(i+1) * time.Minute)
		if err := s.ArmPoll(c, team.ID, p.ID, due, false); err != nil {
			t.Fatal(err)
		}
	}
	theirs := newPolling(t, s, other.ID, "theirs")
	writeRecords(t, s, other.ID, theirs.ID, 1, 1, now)
	enqueueDeliveries(t, s, theirs, newDeliveryArgs(theirs, "hook", 1))
	newUpload(t, s, other.ID, theirs.ID)
	due := dueAt(time.Minute)
	if err := s.ArmPoll(c, other.ID, theirs.ID, due, false); err != nil {
		t.Fatal(err)
	}
	asked := []uuid.UUID{theirs.ID, uuid.New()}
	for _, p := range ps {
		asked = append(asked, p.ID)
	}
	// same compares a batch's entry with the per-pipeline read (nil and
	// empty alike).
	same := func(what string, id uuid.UUID, batch, one any) {
		t.Helper()
		bv, ov := reflect.ValueOf(batch), reflect.ValueOf(one)
		if bv.Len() == 0 && ov.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(batch, one) {
			t.Errorf("%s of %s: batch %+v, one by one %+v", what, id, batch, one)
		}
	}
	// nothing checks the other team's pipeline and the unknown id got
	// nothing.
	nothing := func(what string, m any) {
		t.Helper()
		v := reflect.ValueOf(m)
		for _, id := range asked[:2] {
			if v.MapIndex(reflect.ValueOf(id)).IsValid() {
				t.Errorf("%s: the batch answers for %s, not a pipeline of the team", what, id)
			}
		}
	}

	for _, q := range []store.RecordQuery{{Limit: 2}, {Limit: 10, From: now.Add(-3 * time.Second), To: now}} {
		recs := must[map[uuid.UUID][]core.Record](t)(br.RecordsOfPipelines(c, team.ID, asked, q))
		nothing("records", recs)
		for _, p := range ps {
			same("records", p.ID, recs[p.ID], must[[]core.Record](t)(s.Records(c, team.ID, p.ID, q)))
		}
		if len(recs[ps[0].ID]) == 0 {
			t.Errorf("records of pipelines %+v: none for a", q)
		}
	}
	rej := must[map[uuid.UUID][]core.Rejected](t)(br.RejectedOfPipelines(c, team.ID, asked, 1))
	nothing("rejected", rej)
	for _, p := range ps {
		same("rejected", p.ID, rej[p.ID], must[[]core.Rejected](t)(s.RejectedRecords(c, team.ID, p.ID, store.RejectedQuery{Limit: 1})))
	}
	if len(rej[ps[0].ID]) != 1 {
		t.Errorf("rejected of pipelines: %+v", rej)
	}
	for _, q := range []store.DeliveryQuery{{Limit: 2}, {Limit: 5, Sink: "hook"}, {Limit: 5, Status: core.DeliveryPending}} {
		ds := must[map[uuid.UUID][]core.Delivery](t)(br.DeliveriesOfPipelines(c, team.ID, asked, q))
		nothing("deliveries", ds)
		for _, p := range ps {
			same("deliveries", p.ID, ds[p.ID], must[[]core.Delivery](t)(s.Deliveries(c, team.ID, p.ID, q)))
		}
		if len(ds[ps[1].ID]) < 2 {
			t.Errorf("deliveries of pipelines %+v: %+v", q, ds)
		}
	}
	rps := must[map[uuid.UUID][]core.Replay](t)(br.ReplaysOfPipelines(c, team.ID, asked, "hook"))
	nothing("replays", rps)
	for _, p := range ps {
		same("replays", p.ID, rps[p.ID], must[[]core.Replay](t)(s.Replays(c, team.ID, p.ID, "hook")))
	}
	if len(rps[ps[0].ID]) != 1 {
		t.Errorf("replays of pipelines: %+v", rps)
	}
	ups := must[map[uuid.UUID][]core.Upload](t)(br.UploadsOfPipelines(c, team.ID, asked, 1))
	nothing("uploads", ups)
	for _, p := range ps {
		same("uploads", p.ID, ups[p.ID], must[[]core.Upload](t)(s.Uploads(c, team.ID, p.ID, store.UploadQuery{Limit: 1})))
	}
	if len(ups[ps[0].ID]) != 1 {
		t.Errorf("uploads of pipelines: %+v", ups)
	}
	stats := must[map[uuid.UUID]store.StorageStats](t)(br.StorageStatsOfPipelines(c, team.ID, asked))
	nothing("storage stats", stats)
	for _, p := range ps {
		one := must[store.StorageStats](t)(s.StorageStats(c, team.ID, p.ID))
		if !reflect.DeepEqual(stats[p.ID], one) {
			t.Errorf("storage stats of %s: batch %+v, one by one %+v", p.Name, stats[p.ID], one)
		}
	}
	scheds := must[map[uuid.UUID]store.PollSchedule](t)(br.PollSchedulesOfPipelines(c, team.ID, asked))
	nothing("poll schedules", scheds)
	for _, p := range ps[:2] {
		one := must[store.PollSchedule](t)(s.PollSchedule(c, team.ID, p.ID))
		if !reflect.DeepEqual(scheds[p.ID], one) {
			t.Errorf("poll schedule of %s: batch %+v, one by one %+v", p.Name, scheds[p.ID], one)
		}
	}
	if _, ok := scheds[ps[2].ID]; ok || len(scheds) != 2 {
		t.Errorf("poll schedules of pipelines: %+v", scheds)
	}
}
