package postgres_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Concurrent batches keep exact stats through the insert-only deltas, the
// folds in the batch transaction every so many batches, and the fold of
// CompactRollups; record ids stay unique.
func TestStatDeltasStayExact(t *testing.T) {
	e := setupStorage(t, 1)
	pipe := e.pipes[0]
	const writers, batches = 4, 150 // 600 batches: folds happen in between
	var (
		mu  sync.Mutex
		all []core.Record
		wg  sync.WaitGroup
	)
	base := time.Now().UTC().Truncate(time.Second)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				rs := e.write(nil, pipe, base.Add(time.Duration(w*batches+i)*time.Millisecond), base)
				mu.Lock()
				all = append(all, rs...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for _, r := range all {
		if r.ID == 0 || seen[r.ID] {
			t.Fatalf("record id %d missing or repeated", r.ID)
		}
		seen[r.ID] = true
	}
	checkStats(t, e, pipe, all)
	var pending int
	if err := e.st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM pipeline_stat_deltas`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending >= writers*batches {
		t.Errorf("%d deltas pending after %d batches: none was folded", pending, writers*batches)
	}
	if _, err := e.st.CompactRollups(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM pipeline_stat_deltas`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d deltas pending after CompactRollups", pending)
	}
	checkStats(t, e, pipe, all)
}

// Concurrent batches of one push run (store.Batch.MergeRun) keep the
// run's counts, the minute rollups and the day summaries exact through
// their deltas, before and after the folds; CompactRollups leaves no
// delta behind.
func TestPushRunDeltasStayExact(t *testing.T) {
	e := setupStorage(t, 1)
	pipe := e.pipes[0]
	runID := core.NewID()
	base := time.Now().UTC().Truncate(time.Minute)
	const writers, batches, perBatch = 4, 80, 2 // 320 batches: in-batch folds happen
	var (
		wg     sync.WaitGroup
		stored sync.Map // whether the run's row committed: RunStored
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				b := &store.Batch{TeamID: e.team, PipelineID: pipe, Version: 1, Persist: true, MergeRun: true,
					Run: core.Run{ID: runID, Trigger: core.TriggerWebhook, StartedAt: core.Now(), Fetched: perBatch, Stored: perBatch}}
				_, b.RunStored = stored.Load(runID)
				for j := range perBatch {
					ts := base.Add(time.Duration(w*batches+i) * time.Millisecond)
					b.Records = append(b.Records, core.Record{TS: ts, Data: json.RawMessage(fmt.Sprintf(`{"v":%d}`, j))})
					b.Rollups.Add(ts, map[string]any{"v": int64(j)})
				}
				if err := e.st.WriteBatch(t.Context(), b); err != nil {
					t.Errorf("write batch: %v", err)
					return
				}
				stored.Store(runID, true)
			}
		}()
	}
	wg.Wait()
	const total = writers * batches * perBatch
	check := func(when string) {
		t.Helper()
		runs, err := e.st.Runs(t.Context(), e.team, pipe, store.RunQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].ID != runID || runs[0].Stored != total || runs[0].Fetched != total {
			t.Fatalf("%s: runs %+v, want one run %s with %d stored and fetched", when, runs, runID, total)
		}
		s, err := e.st.Series(t.Context(), e.team, pipe, store.SeriesQuery{Field: "v", From: base, To: base.Add(time.Minute), Bucket: time.Minute, Source: "1m"})
		if err != nil {
			t.Fatal(err)
		}
		var count int64
		var sum float64
		for _, p := range s.Points {
			count += p.Count
			sum += p.Sum
		}
		if count != total || sum != total/perBatch {
			t.Fatalf("%s: minute series count %d sum %g, want %d and %d", when, count, sum, total, total/perBatch)
		}
		st, err := e.st.StorageStats(t.Context(), e.team, pipe)
		if err != nil {
			t.Fatal(err)
		}
		if st.Records != total {
			t.Fatalf("%s: storage stats hold %d records, want %d", when, st.Records, total)
		}
	}
	check("before compaction")
	if _, err := e.st.CompactRollups(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	check("after compaction")
	var pending int
	if err := e.st.Pool().QueryRow(t.Context(), `SELECT (SELECT count(*) FROM run_deltas) + (SELECT count(*) FROM record_day_deltas)
		+ (SELECT count(*) FROM rollup_pending)`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d deltas left after CompactRollups", pending)
	}
}
