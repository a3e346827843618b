package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

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
}
