package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["Pipelines"] = testPipelines
	extra["PipelineIsolation"] = testPipelineIsolation
	extra["WriteBatch"] = testWriteBatch
	extra["WriteBatchNotPersisted"] = testWriteBatchNotPersisted
	extra["WriteBatchFailsWhole"] = testWriteBatchFailsWhole
	extra["WriteBatchJobs"] = testWriteBatchJobs
	extra["RecordQueries"] = testRecordQueries
	extra["Secrets"] = testSecrets
}

func newPipeline(t *testing.T, s store.Store, teamID uuid.UUID, name string) core.Pipeline {
	t.Helper()
	return must[core.Pipeline](t)(s.CreatePipeline(ctx(t), teamID, store.NewPipeline{
		Name: name, Kind: core.KindWebhook, Spec: json.RawMessage(`{"name":"` + name + `","kind":"webhook"}`), HookToken: uuid.NewString(),
	}))
}

// sameJSON compares documents by meaning: PostgreSQL's jsonb does not keep
// key order or spacing.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON = %s, want %s", got, want)
	}
}

func testPipelines(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "weather")
	if p.Version != 1 || p.Status != core.StatusActive || p.Kind != core.KindWebhook || p.HookToken == "" || p.TeamID != team.ID {
		t.Fatalf("created = %+v", p)
	}
	if _, err := s.CreatePipeline(c, team.ID, store.NewPipeline{Name: "weather", Kind: core.KindWebhook, Spec: json.RawMessage(`{}`)}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate name: err = %v", err)
	}
	got := must[core.Pipeline](t)(s.PipelineByHookHash(c, core.HookTokenHash(p.HookToken)))
	if got.ID != p.ID {
		t.Fatalf("by token = %+v", got)
	}
	// Only the hash and the prefix are kept: a read shows no token.
	if got.HookToken != "" || got.HookTokenPrefix != p.HookToken[:core.HookTokenPrefixLen] || p.HookTokenPrefix != got.HookTokenPrefix {
		t.Fatalf("read back token %q prefix %q, want no token and prefix %q", got.HookToken, got.HookTokenPrefix, p.HookToken[:core.HookTokenPrefixLen])
	}
	if _, err := s.PipelineByHookHash(c, core.HookTokenHash("nope")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown token: err = %v", err)
	}
	if _, err := s.PipelineByHookHash(c, nil); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("empty token: err = %v", err)
	}

	spec2 := json.RawMessage(`{"name":"weather-2","kind":"webhook","persist":false}`)
	up := must[core.Pipeline](t)(s.UpdatePipeline(c, team.ID, p.ID, store.PipelineUpdate{Name: "weather-2", Kind: core.KindWebhook, Spec: spec2, IfVersion: 1}))
	if up.Version != 2 || up.Name != "weather-2" || !up.UpdatedAt.After(p.UpdatedAt) && !up.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("updated = %+v", up)
	}
	sameJSON(t, up.Spec, spec2)
	if _, err := s.UpdatePipeline(c, team.ID, p.ID, store.PipelineUpdate{Name: "x", Kind: core.KindWebhook, Spec: spec2, IfVersion: 1}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("stale version: err = %v", err)
	}
	old := must[json.RawMessage](t)(s.PipelineVersion(c, team.ID, p.ID, 1))
	sameJSON(t, old, p.Spec)
	if _, err := s.PipelineVersion(c, team.ID, p.ID, 3); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing version: err = %v", err)
	}

	paused := must[core.Pipeline](t)(s.SetPipelineStatus(c, team.ID, p.ID, core.StatusPaused))
	if paused.Status != core.StatusPaused || paused.Version != 2 {
		t.Fatalf("paused = %+v", paused)
	}
	rot := must[core.Pipeline](t)(s.RotateHookToken(c, team.ID, p.ID, "new-token-"+uuid.NewString()))
	if rot.HookToken == p.HookToken || rot.HookToken == "" || rot.HookTokenPrefix != "new-" {
		t.Fatalf("token not rotated: %q prefix %q", rot.HookToken, rot.HookTokenPrefix)
	}
	if _, err := s.PipelineByHookHash(c, core.HookTokenHash(p.HookToken)); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("old token still works: %v", err)
	}
	if got := must[core.Pipeline](t)(s.PipelineByHookHash(c, core.HookTokenHash(rot.HookToken))); got.ID != p.ID {
		t.Fatalf("new token finds %s", got.ID)
	}

	second := newPipeline(t, s, team.ID, "alpha")
	list := must[[]core.Pipeline](t)(s.Pipelines(c, team.ID))
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != p.ID {
		t.Fatalf("list = %+v", list)
	}

	writeRecords(t, s, team.ID, p.ID, 2, 3, time.Now())
	if err := s.DeletePipeline(c, team.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pipeline(c, team.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted pipeline: err = %v", err)
	}
	if recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{})); len(recs) != 0 {
		t.Fatalf("deleted pipeline left %d records", len(recs))
	}
	if err := s.DeletePipeline(c, team.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete twice: err = %v", err)
	}
}

func testPipelineIsolation(t *testing.T, s store.Store) {
	c := ctx(t)
	teamA, _ := newTeam(t, s)
	teamB, _ := newTeam(t, s)
	p := newPipeline(t, s, teamA.ID, "a-only")
	writeRecords(t, s, teamA.ID, p.ID, 2, 5, time.Now())
	spec := json.RawMessage(`{}`)
	checks := map[string]error{}
	_, checks["Pipeline"] = s.Pipeline(c, teamB.ID, p.ID)
	_, checks["UpdatePipeline"] = s.UpdatePipeline(c, teamB.ID, p.ID, store.PipelineUpdate{Name: "x", Kind: core.KindWebhook, Spec: spec})
	_, checks["SetPipelineStatus"] = s.SetPipelineStatus(c, teamB.ID, p.ID, core.StatusPaused)
	_, checks["RotateHookToken"] = s.RotateHookToken(c, teamB.ID, p.ID, "stolen")
	_, checks["PipelineVersion"] = s.PipelineVersion(c, teamB.ID, p.ID, 1)
	checks["DeletePipeline"] = s.DeletePipeline(c, teamB.ID, p.ID)
	checks["WriteBatch"] = s.WriteBatch(c, &store.Batch{TeamID: teamB.ID, PipelineID: p.ID, Version: 1, Persist: true,
		Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}})
	for name, err := range checks {
		if !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s with team B's id on team A's pipeline: err = %v, want ErrNotFound", name, err)
		}
	}
	if recs := must[[]core.Record](t)(s.Records(c, teamB.ID, p.ID, store.RecordQuery{})); len(recs) != 0 {
		t.Errorf("team B reads %d of team A's records", len(recs))
	}
	if runs := must[[]core.Run](t)(s.Runs(c, teamB.ID, p.ID, store.RunQuery{})); len(runs) != 0 {
		t.Errorf("team B reads %d of team A's runs", len(runs))
	}
	if list := must[[]core.Pipeline](t)(s.Pipelines(c, teamB.ID)); len(list) != 0 {
		t.Errorf("team B lists %d of team A's pipelines", len(list))
	}
	after := must[core.Pipeline](t)(s.Pipeline(c, teamA.ID, p.ID))
	if after.Version != 1 || after.Status != core.StatusActive || after.HookTokenPrefix != p.HookTokenPrefix || after.Stats.RecordCount != 10 {
		t.Errorf("team A's pipeline changed: %+v", after)
	}
}

// writeRecords commits batches of n records with values 0..n-1, one second
// apart, ending at end.
func writeRecords(t *testing.T, s store.Store, teamID, pipelineID uuid.UUID, batches, n int, end time.Time) []core.Record {
	t.Helper()
	var all []core.Record
	end = end.UTC().Truncate(time.Microsecond)
	for b := range batches {
		recs := make([]core.Record, n)
		for i := range recs {
			k := b*n + i
			recs[i] = core.Record{TS: end.Add(-time.Duration(batches*n-1-k) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"k":%d,"v":"x"}`, k))}
		}
		batch := &store.Batch{TeamID: teamID, PipelineID: pipelineID, Version: 1, Persist: true, Records: recs,
			Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now(), Fetched: n, Stored: n}}
		if err := s.WriteBatch(ctx(t), batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch.Records...)
	}
	return all
}

func testWriteBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "batch")
	now := core.Now()
	recs := []core.Record{
		{TS: now.Add(-time.Minute), Data: json.RawMessage(`{"temp":21.5,"station":"b"}`)},
		{TS: now, Data: json.RawMessage(`{"temp":22,"station":"a","nested":{"x":[1,2]}}`)},
	}
	rej := []core.Rejected{{ReceivedAt: now, Raw: json.RawMessage(`{"temp":"hot"}`), Reason: "field temp: expected number"}}
	run := core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: now, Duration: 1500 * time.Microsecond, Fetched: 3, Stored: 2, Rejected: 1, Bytes: 77}
	b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true, Records: recs, Rejected: rej, Run: run,
		State: json.RawMessage(`{"cursor":"c1"}`)}
	if err := s.WriteBatch(c, b); err != nil {
		t.Fatal(err)
	}
	if b.Records[0].ID == 0 || b.Records[1].ID == 0 || b.Records[0].ID == b.Records[1].ID {
		t.Fatalf("record ids = %d, %d", b.Records[0].ID, b.Records[1].ID)
	}
	got := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{}))
	if len(got) != 2 || got[0].ID != b.Records[1].ID || !got[0].TS.Equal(now) || got[0].Version != 1 {
		t.Fatalf("records = %+v", got)
	}
	sameJSON(t, got[0].Data, recs[1].Data)
	sameJSON(t, got[1].Data, recs[0].Data)

	rejected := must[[]core.Rejected](t)(s.RejectedRecords(c, team.ID, p.ID, store.RejectedQuery{}))
	if len(rejected) != 1 || rejected[0].Reason != rej[0].Reason || rejected[0].RunID != run.ID || !rejected[0].ReceivedAt.Equal(now) {
		t.Fatalf("rejected = %+v", rejected)
	}
	sameJSON(t, rejected[0].Raw, rej[0].Raw)

	runs := must[[]core.Run](t)(s.Runs(c, team.ID, p.ID, store.RunQuery{}))
	if len(runs) != 1 {
		t.Fatalf("runs = %+v", runs)
	}
	r := runs[0]
	if r.ID != run.ID || r.Fetched != 3 || r.Stored != 2 || r.Rejected != 1 || r.Duration != run.Duration || r.Trigger != core.TriggerWebhook || !r.StartedAt.Equal(now) || r.Bytes != 77 {
		t.Fatalf("run = %+v, want %+v", r, run)
	}
	after := must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID))
	wantBytes := int64(len(recs[0].Data) + len(recs[1].Data))
	if after.Stats.RecordCount != 2 || after.Stats.RejectedCount != 1 || after.Stats.StoredBytes != wantBytes ||
		after.Stats.LastRecordAt == nil || !after.Stats.LastRecordAt.Equal(now) || after.Stats.LastRunAt == nil {
		t.Fatalf("stats = %+v", after.Stats)
	}
	// An older batch does not move last_record_at back.
	writeRecords(t, s, team.ID, p.ID, 1, 1, now.Add(-time.Hour))
	after = must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID))
	if !after.Stats.LastRecordAt.Equal(now) || after.Stats.RecordCount != 3 {
		t.Fatalf("stats after an older batch = %+v", after.Stats)
	}
}

func testWriteBatchNotPersisted(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "transient")
	b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: false,
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"a":1}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now(), Fetched: 1, Stored: 1}}
	if err := s.WriteBatch(c, b); err != nil {
		t.Fatal(err)
	}
	if b.Records[0].ID != 0 {
		t.Fatalf("unpersisted record got id %d", b.Records[0].ID)
	}
	if recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{})); len(recs) != 0 {
		t.Fatalf("persist=false stored %d records", len(recs))
	}
	if runs := must[[]core.Run](t)(s.Runs(c, team.ID, p.ID, store.RunQuery{})); len(runs) != 1 || runs[0].Stored != 1 {
		t.Fatalf("runs = %+v", runs)
	}
	if after := must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID)); after.Stats.RecordCount != 0 || after.Stats.LastRunAt == nil {
		t.Fatalf("stats = %+v", after.Stats)
	}
}

func testWriteBatchFailsWhole(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "atomic")
	run := core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}
	writeRecords(t, s, team.ID, p.ID, 1, 1, time.Now())
	// The run id repeats an existing one: the run insert fails after the
	// records were written, and nothing of the batch may stay.
	first := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true, Run: run,
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"n":1}`)}}}
	if err := s.WriteBatch(c, first); err != nil {
		t.Fatal(err)
	}
	dup := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true, Run: run,
		Records:  []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"n":2}`)}, {TS: core.Now(), Data: json.RawMessage(`{"n":3}`)}},
		Rejected: []core.Rejected{{ReceivedAt: core.Now(), Raw: json.RawMessage(`1`), Reason: "r"}}}
	if err := s.WriteBatch(c, dup); err == nil {
		t.Fatal("batch with a duplicate run id committed")
	}
	for _, r := range dup.Records {
		if r.ID != 0 {
			t.Fatalf("failed batch left record id %d", r.ID)
		}
	}
	if recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{})); len(recs) != 2 {
		t.Fatalf("after a failed batch: %d records, want 2", len(recs))
	}
	if rej := must[[]core.Rejected](t)(s.RejectedRecords(c, team.ID, p.ID, store.RejectedQuery{})); len(rej) != 0 {
		t.Fatalf("failed batch left %d rejected records", len(rej))
	}
	if after := must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID)); after.Stats.RecordCount != 2 {
		t.Fatalf("failed batch changed stats: %+v", after.Stats)
	}
}

type batchJobArgs struct {
	Pipeline uuid.UUID `json:"pipeline"`
	MinID    int64     `json:"min_id"`
	MaxID    int64     `json:"max_id"`
}

func (batchJobArgs) Kind() string { return "storetest_batch" }

type batchJobWorker struct {
	river.WorkerDefaults[batchJobArgs]
	got chan batchJobArgs
}

func (w *batchJobWorker) Work(_ context.Context, j *river.Job[batchJobArgs]) error {
	w.got <- j.Args
	return nil
}

func testWriteBatchJobs(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "jobs")
	w := &batchJobWorker{got: make(chan batchJobArgs, 4)}
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
	jobs := func(recs []core.Record) ([]river.InsertManyParams, error) {
		return []river.InsertManyParams{{Args: batchJobArgs{Pipeline: p.ID, MinID: recs[0].ID, MaxID: recs[len(recs)-1].ID}}}, nil
	}
	b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true, Jobs: jobs,
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"a":1}`)}, {TS: core.Now(), Data: json.RawMessage(`{"a":2}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
	if err := s.WriteBatch(c, b); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-w.got:
		if got.Pipeline != p.ID || got.MinID != b.Records[0].ID || got.MaxID != b.Records[1].ID {
			t.Fatalf("job args = %+v, records %d..%d", got, b.Records[0].ID, b.Records[1].ID)
		}
	case <-c.Done():
		t.Fatal("batch job did not run")
	}
	// A batch whose job building fails commits nothing.
	bad := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
		Jobs:    func([]core.Record) ([]river.InsertManyParams, error) { return nil, errors.New("no sink") },
		Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"a":3}`)}},
		Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
	if err := s.WriteBatch(c, bad); err == nil {
		t.Fatal("batch with failing jobs committed")
	}
	if recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{})); len(recs) != 2 {
		t.Fatalf("%d records after a failed batch, want 2", len(recs))
	}
}

func testRecordQueries(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "query")
	other := newPipeline(t, s, team.ID, "other")
	end := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	all := writeRecords(t, s, team.ID, p.ID, 5, 20, end) // 100 records, one per second, oldest first
	writeRecords(t, s, team.ID, other.ID, 1, 10, end)

	// Page through everything newest first with a cursor.
	var seen []int64
	q := store.RecordQuery{Limit: 30}
	for {
		page := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, q))
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			seen = append(seen, r.ID)
		}
		last := page[len(page)-1]
		q.BeforeTS, q.BeforeID = last.TS, last.ID
	}
	if len(seen) != 100 {
		t.Fatalf("paged %d records, want 100", len(seen))
	}
	for i, id := range seen {
		if want := all[len(all)-1-i].ID; id != want {
			t.Fatalf("page order: position %d has %d, want %d", i, id, want)
		}
	}
	// A time range: [end-10s, end-5s) holds 5 records.
	rng := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{From: end.Add(-10 * time.Second), To: end.Add(-5 * time.Second)}))
	if len(rng) != 5 || !rng[0].TS.Equal(end.Add(-6*time.Second)) || !rng[4].TS.Equal(end.Add(-10*time.Second)) {
		t.Fatalf("range = %d records, first %v", len(rng), rng)
	}
	if got := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{Limit: 5000})); len(got) != 100 {
		t.Fatalf("limit above max: %d", len(got))
	}
	if got := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{})); len(got) != 100 {
		t.Fatalf("default limit: %d", len(got))
	}
}

func testSecrets(t *testing.T, s store.Store) {
	c := ctx(t)
	teamA, _ := newTeam(t, s)
	teamB, _ := newTeam(t, s)
	sec := must[core.Secret](t)(s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: teamA.ID, Name: "api-key", Sealed: []byte{1, 2, 3}}))
	if sec.Name != "api-key" || string(sec.Sealed) != "\x01\x02\x03" {
		t.Fatalf("created = %+v", sec)
	}
	if _, err := s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: teamA.ID, Name: "api-key", Sealed: []byte{9}}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate name: err = %v", err)
	}
	// The same name in another team is another secret.
	must[core.Secret](t)(s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: teamB.ID, Name: "api-key", Sealed: []byte{7}}))
	rot := must[core.Secret](t)(s.RotateSecret(c, teamA.ID, "api-key", []byte{4, 5}))
	if string(rot.Sealed) != "\x04\x05" || rot.ID != sec.ID {
		t.Fatalf("rotated = %+v", rot)
	}
	if got := must[core.Secret](t)(s.Secret(c, teamB.ID, "api-key")); string(got.Sealed) != "\x07" {
		t.Fatalf("team B's secret = %+v", got)
	}
	if list := must[[]core.Secret](t)(s.Secrets(c, teamA.ID)); len(list) != 1 || list[0].ID != sec.ID {
		t.Fatalf("list = %+v", list)
	}
	if err := s.DeleteSecret(c, teamB.ID, "api-key"); err != nil {
		t.Fatal(err)
	}
	if got := must[core.Secret](t)(s.Secret(c, teamA.ID, "api-key")); got.ID != sec.ID {
		t.Fatal("deleting team B's secret touched team A's")
	}
	if err := s.DeleteSecret(c, teamB.ID, "api-key"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete twice: err = %v", err)
	}
	if _, err := s.RotateSecret(c, teamB.ID, "api-key", []byte{1}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("rotate missing: err = %v", err)
	}
}
