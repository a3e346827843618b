package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["BigBatchBesideSmallOnes"] = testBigBatchBesideSmallOnes
}

// A big batch (written in slices on SQLite, copied in chunks that give way
// to small batches on PostgreSQL) commits whole, with every record, while
// another team's small batches commit beside it.
func testBigBatchBesideSmallOnes(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "big")
	q := newPipeline(t, s, other.ID, "small")

	const n = 2600 // over both backends' thresholds, several slices or chunks
	start := core.Now().Truncate(time.Second).Add(-time.Hour)
	big := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
		Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: start, Fetched: n + 2, Stored: n, Rejected: 2}}
	for i := range n {
		big.Records = append(big.Records, core.Record{TS: start.Add(time.Duration(i) * time.Millisecond), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	for i := range 2 {
		big.Rejected = append(big.Rejected, core.Rejected{ReceivedAt: start, Raw: json.RawMessage(`{"bad":true}`), Reason: fmt.Sprint("reason ", i)})
	}

	const smalls = 40
	var wg sync.WaitGroup
	errs := make(chan error, smalls+1)
	wg.Go(func() { errs <- s.WriteBatch(c, big) })
	for range smalls {
		wg.Go(func() { errs <- s.WriteBatch(c, oneRecordBatch(q)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	seen := map[int64]bool{}
	for _, r := range big.Records {
		if r.ID == 0 || seen[r.ID] {
			t.Fatalf("record id %d unset or given twice", r.ID)
		}
		seen[r.ID] = true
	}
	if got := must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID)).Stats; got.RecordCount != n || got.RejectedCount != 2 {
		t.Fatalf("big pipeline's stats: %d records, %d rejected; want %d, 2", got.RecordCount, got.RejectedCount, n)
	}
	if got := must[core.Pipeline](t)(s.Pipeline(c, other.ID, q.ID)).Stats.RecordCount; got != smalls {
		t.Fatalf("small pipeline's stats: %d records, want %d", got, smalls)
	}
	// A big batch that fails at its end (a webhook-id already stored)
	// leaves nothing of it.
	now := core.Now().Truncate(time.Microsecond)
	id := store.WebhookID{Hash: store.WebhookIDHash("msg_big"), At: now, Expires: now.Add(5 * time.Minute)}
	small := oneRecordBatch(p)
	small.WebhookIDs = []store.WebhookID{id}
	if err := s.WriteBatch(c, small); err != nil {
		t.Fatal(err)
	}
	dup := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true, WebhookIDs: []store.WebhookID{id},
		Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: now, Fetched: n, Stored: n}}
	for i := range n {
		dup.Records = append(dup.Records, core.Record{TS: start.Add(-time.Duration(i+1) * time.Millisecond), Data: json.RawMessage(`{"dup":true}`)})
	}
	if err := s.WriteBatch(c, dup); !errors.Is(err, core.ErrAlreadyReceived) {
		t.Fatalf("big batch with a stored webhook-id: err %v, want ErrAlreadyReceived", err)
	}
	if got := must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID)).Stats.RecordCount; got != n+1 {
		t.Fatalf("%d records after the refused big batch, want %d", got, n+1)
	}
	older := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{Limit: 10, To: start}))
	for _, r := range older {
		if strings.Contains(string(r.Data), "dup") {
			t.Fatalf("a record of the refused big batch was kept: %s", r.Data)
		}
	}

	recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{Limit: 1000}))
	recs = recs[1:] // the small batch's, newest
	if len(recs) != 999 {
		t.Fatalf("read %d of the big batch's records, want 999", len(recs))
	}
	for i, r := range recs { // newest first
		var d struct{ N int }
		if err := json.Unmarshal(r.Data, &d); err != nil || d.N != n-1-i || !seen[r.ID] {
			t.Fatalf("record %d of the newest: %s (id %d), want n %d of the batch", i, r.Data, r.ID, n-1-i)
		}
	}
}
