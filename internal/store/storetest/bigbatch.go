package storetest

import (
	"encoding/json"
	"fmt"
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
	recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{Limit: 1000}))
	if len(recs) != 1000 {
		t.Fatalf("read %d of the big batch's records, want 1000", len(recs))
	}
	for i, r := range recs { // newest first
		var d struct{ N int }
		if err := json.Unmarshal(r.Data, &d); err != nil || d.N != n-1-i || !seen[r.ID] {
			t.Fatalf("record %d of the newest: %s (id %d), want n %d of the batch", i, r.Data, r.ID, n-1-i)
		}
	}
}
