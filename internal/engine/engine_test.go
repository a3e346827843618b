package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestSubmitCommitsAcceptedAndRejected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{})
		ctx := context.Background()
		res, err := b.submit(ctx, t,
			`{"at":"2026-01-01T00:00:00Z","t":21.5,"s":"a"}`,
			`{"at":"2026-01-01T00:00:01Z","t":"warm","s":"b"}`, // not a number
			`{"at":"2026-01-01T00:00:02Z","t":75,"s":"c"}`,     // over the schema's maximum
			`"hello"`, // no records in it
			`[{"at":"2026-01-01T00:00:03Z","t":1},{"at":"2026-01-01T00:00:04Z","t":2,"s":null}]`,
		)
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if res.Accepted != 3 || res.Rejected != 3 || res.RunID == uuid.Nil {
			t.Fatalf("result %+v", res)
		}

		recs := b.records(t) // newest first
		if len(recs) != 3 {
			t.Fatalf("%d records stored", len(recs))
		}
		want := []struct {
			sec  int
			data string
		}{{4, `{"temp":2}`}, {3, `{"temp":1}`}, {0, `{"station":"a","temp":21.5}`}}
		for i, w := range want {
			r := recs[i]
			if r.ID == 0 || r.Version != 1 || !r.TS.Equal(time.Date(2026, 1, 1, 0, 0, w.sec, 0, time.UTC)) {
				t.Errorf("record %d = %+v", i, r)
			}
			sameJSON(t, r.Data, []byte(w.data))
		}

		rej := b.rejected(t)
		if len(rej) != 3 {
			t.Fatalf("%d rejected stored", len(rej))
		}
		slices.SortFunc(rej, func(a, b core.Rejected) int { return int(a.ID - b.ID) })
		wantRej := []struct{ raw, reason string }{
			{`{"at":"2026-01-01T00:00:01Z","t":"warm","s":"b"}`, "mapping: field temp: expected number"},
			{`{"at":"2026-01-01T00:00:02Z","t":75,"s":"c"}`, "validation: temp: must be <= 60"},
			{`"hello"`, "mapping: records not found"},
		}
		for i, w := range wantRej {
			r := rej[i]
			sameJSON(t, r.Raw, []byte(w.raw))
			if !strings.HasPrefix(r.Reason, w.reason) || r.Version != 1 || r.RunID != res.RunID {
				t.Errorf("rejected %d = %+v, want reason %q", i, r, w.reason)
			}
		}

		runs := b.runs(t)
		if len(runs) != 1 {
			t.Fatalf("%d runs", len(runs))
		}
		var bytes int64
		for _, r := range recs {
			bytes += int64(len(r.Data))
		}
		run := runs[0]
		if run.ID != res.RunID || run.Trigger != core.TriggerWebhook || run.Fetched != 6 || run.Stored != 3 || run.Rejected != 3 || run.Version != 1 || run.Bytes == 0 {
			t.Errorf("run %+v", run)
		}

		// The cache holds the committed records with their ids.
		cached := b.cache.Recent(b.p.ID, 0)
		if got, want := cacheIDs(cached), ids(recs); !slices.Equal(got, want) {
			t.Errorf("cached ids %v, stored %v", got, want)
		}
		// One message carries the batch.
		pubs := b.published(t)
		if len(pubs) != 1 {
			t.Fatalf("%d batches published", len(pubs))
		}
		pb := pubs[0]
		if pb.Pipeline != b.p.ID || pb.Version != 1 || pb.Count != 3 || pb.Rejected != 3 {
			t.Errorf("published %+v", pb)
		}
		els := elements(t, pb)
		for i, el := range els {
			r := recs[len(recs)-1-i] // published in input order
			if el.ID != r.ID || !el.TS.Equal(r.TS) {
				t.Errorf("published record %d = %+v, stored %+v", i, el, r)
			}
			sameJSON(t, el.Data, r.Data)
		}

		// The pipeline's stats count the batch.
		p, err := b.st.Pipeline(ctx, b.team, b.p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Stats.RecordCount != 3 || p.Stats.RejectedCount != 3 {
			t.Errorf("stats %+v", p.Stats)
		}
	})
}

func cacheIDs(es []cache.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

func TestPersistFalse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{spec: `{"name":"live","kind":"webhook","source":{},"persist":false}`})
		res, err := b.submit(context.Background(), t, `{"v":1}`, `{"v":2,"ts":"2026-02-03T04:05:06Z"}`, `[1]`)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 2 || res.Rejected != 1 {
			t.Fatalf("result %+v", res)
		}
		if recs := b.records(t); len(recs) != 0 {
			t.Errorf("%d records stored with persist off", len(recs))
		}
		if rej := b.rejected(t); len(rej) != 1 || !strings.Contains(rej[0].Reason, "expected a JSON object") {
			t.Errorf("rejected %+v", rej)
		}
		runs := b.runs(t)
		if len(runs) != 1 || runs[0].Stored != 2 || runs[0].Rejected != 1 {
			t.Errorf("runs %+v", runs)
		}
		cached := b.cache.Recent(b.p.ID, 0)
		// Newest by event time first: the record without a time got its arrival.
		if len(cached) != 2 || cached[1].ID != 0 || !cached[1].TS.Equal(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)) {
			t.Errorf("cached %+v", cached)
		}
		pubs := b.published(t)
		if len(pubs) != 1 || pubs[0].Count != 2 {
			t.Fatalf("published %+v", pubs)
		}
		if els := elements(t, pubs[0]); els[0].ID != 0 || string(els[1].Data) != `{"ts":"2026-02-03T04:05:06Z","v":2}` {
			t.Errorf("published records %+v", els)
		}
	})
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		// A long linger makes the grouping independent of the machine's
		// speed; the default is a few milliseconds.
		b := setup(t, st, options{cfg: engine.Config{Linger: 50 * time.Millisecond, PushRunInterval: perBatchRuns}})
		const n = 200
		results := make([]engine.Result, n)
		parallel(n, func(i int) {
			res, err := b.submit(context.Background(), t, record(i))
			if err != nil {
				t.Errorf("Submit %d: %v", i, err)
			}
			results[i] = res
		})
		runs := b.runs(t)
		if len(runs) > n/10 {
			t.Errorf("%d single-record submissions made %d runs; group commit should make far fewer", n, len(runs))
		}
		t.Logf("%d submissions, %d runs", n, len(runs))
		stored, runIDs := 0, map[uuid.UUID]bool{}
		for _, r := range runs {
			stored += r.Stored
			runIDs[r.ID] = true
		}
		for i, res := range results {
			if res.Accepted != 1 || !runIDs[res.RunID] {
				t.Errorf("result %d = %+v, not one of the runs", i, res)
			}
		}
		if stored != n || len(b.records(t)) != n {
			t.Errorf("runs stored %d, records table holds %d; want %d", stored, len(b.records(t)), n)
		}
		// Each committed batch reached the broker once, and the cache.
		pubs := b.published(t)
		count := 0
		for _, pb := range pubs {
			count += pb.Count
		}
		if len(pubs) != len(runs) || count != n {
			t.Errorf("%d batches with %d records published; %d runs", len(pubs), count, len(runs))
		}
		if got := b.cache.Len(b.p.ID); got != cache.DefaultSize {
			t.Errorf("cache holds %d", got)
		}
	})
}

func TestBatchSizeLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{cfg: engine.Config{MaxBatchRecords: 10, Linger: 20 * time.Millisecond, PushRunInterval: perBatchRuns}})
		big := make([]string, 25)
		for i := range big {
			big[i] = record(1000 + i)
		}
		var bigRes engine.Result
		others := make([]engine.Result, 40)
		parallel(41, func(i int) {
			var err error
			if i == 40 {
				bigRes, err = b.submit(context.Background(), t, big...)
			} else {
				others[i], err = b.submit(context.Background(), t, record(i))
			}
			if err != nil {
				t.Errorf("Submit: %v", err)
			}
		})
		total := 0
		for _, r := range b.runs(t) {
			total += r.Fetched
			switch {
			case r.ID == bigRes.RunID && r.Fetched != 25:
				t.Errorf("the big submission's run has %d records; it should be alone", r.Fetched)
			case r.ID != bigRes.RunID && r.Fetched > 10:
				t.Errorf("run with %d records, over MaxBatchRecords", r.Fetched)
			}
		}
		for _, o := range others {
			if o.RunID == bigRes.RunID {
				t.Error("a small submission joined the big one")
			}
		}
		if total != 65 {
			t.Errorf("runs hold %d records, want 65", total)
		}
	})
}

// faultStore makes chosen batches fail inside the transaction, after the
// records were written: the real store must roll all of it back.
type faultStore struct {
	engine.Store
	fail func(b *store.Batch) bool
}

var errBoom = errors.New("boom")

func (f *faultStore) WriteBatch(ctx context.Context, b *store.Batch) error {
	if f.fail(b) {
		b.Jobs = func([]core.Record) ([]river.InsertManyParams, error) { return nil, errBoom }
	}
	return f.Store.WriteBatch(ctx, b)
}

func TestFailedWriteKeepsNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		var failing atomic.Bool
		failing.Store(true)
		b := setup(t, st, options{
			cfg: engine.Config{Linger: 20 * time.Millisecond},
			wrap: func(s engine.Store) engine.Store {
				return &faultStore{s, func(*store.Batch) bool { return failing.Load() }}
			},
		})
		parallel(20, func(i int) {
			// One rejected record each too: they must go as well.
			_, err := b.submit(context.Background(), t, record(i), `{"t":"x"}`)
			if !errors.Is(err, errBoom) {
				t.Errorf("Submit %d: err = %v, want %v", i, err, errBoom)
			}
		})
		if n := len(b.records(t)); n != 0 {
			t.Errorf("%d records kept", n)
		}
		if n := len(b.rejected(t)); n != 0 {
			t.Errorf("%d rejected records kept", n)
		}
		if n := len(b.runs(t)); n != 0 {
			t.Errorf("%d runs kept", n)
		}
		if n := b.cache.Len(b.p.ID); n != 0 {
			t.Errorf("%d records cached", n)
		}
		if pubs := b.published(t); len(pubs) != 0 {
			t.Errorf("%d batches published", len(pubs))
		}

		// The engine recovers once the store does.
		failing.Store(false)
		if _, err := b.submit(context.Background(), t, record(1)); err != nil {
			t.Fatal(err)
		}
		if len(b.records(t)) != 1 || len(b.published(t)) != 1 || b.cache.Len(b.p.ID) != 1 {
			t.Error("the batch after the failure did not go through")
		}
	})
}

func TestOneBadSubmissionDoesNotFailItsGroup(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		poisoned := func(b *store.Batch) bool {
			for _, r := range b.Records {
				if strings.Contains(string(r.Data), "poison") {
					return true
				}
			}
			return false
		}
		b := setup(t, st, options{
			cfg:  engine.Config{Linger: 50 * time.Millisecond},
			wrap: func(s engine.Store) engine.Store { return &faultStore{s, poisoned} },
		})
		var failed atomic.Int32
		parallel(10, func(i int) {
			doc := record(i)
			if i == 3 {
				doc = `{"at":"2026-01-01T00:00:00Z","t":1,"s":"poison"}`
			}
			_, err := b.submit(context.Background(), t, doc)
			switch {
			case i == 3 && !errors.Is(err, errBoom):
				t.Errorf("the poisoned submission: err = %v", err)
			case i == 3:
				failed.Add(1)
			case err != nil:
				t.Errorf("Submit %d: %v", i, err)
			}
		})
		if n := len(b.records(t)); n != 9 || failed.Load() != 1 {
			t.Errorf("%d records stored, %d failed; want 9 and 1", n, failed.Load())
		}
		count := 0
		for _, pb := range b.published(t) {
			count += pb.Count
		}
		if count != 9 || b.cache.Len(b.p.ID) != 9 {
			t.Errorf("%d records published, %d cached; want 9", count, b.cache.Len(b.p.ID))
		}
	})
}

func TestNULIsRejectedOnEveryBackend(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{spec: `{"name":"n","kind":"webhook","source":{}}`})
		res, err := b.submit(context.Background(), t, `{"a":"x\u0000y"}`, `{"a":"fine"}`)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 1 || res.Rejected != 1 {
			t.Fatalf("result %+v", res)
		}
		rej := b.rejected(t)
		if len(rej) != 1 || !strings.Contains(rej[0].Reason, "U+0000") {
			t.Fatalf("rejected %+v", rej)
		}
		sameJSON(t, rej[0].Raw, []byte(`{"a":"x\ufffdy"}`))
	})
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{cfg: engine.Config{Linger: 20 * time.Millisecond}})
		b.st.Close()
		parallel(10, func(i int) {
			if _, err := b.submit(context.Background(), t, record(i)); err == nil {
				t.Errorf("Submit %d to a closed store succeeded", i)
			}
		})
		if n := b.cache.Len(b.p.ID); n != 0 {
			t.Errorf("%d records cached", n)
		}
		if pubs := b.published(t); len(pubs) != 0 {
			t.Errorf("%d batches published", len(pubs))
		}
	})
}

func TestCancelledSubmitterIsWithdrawn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		// The first write is held, so the next group waits for it (Linger
		// is long); a submitter of that group gives up meanwhile.
		g := newGate()
		b := setup(t, st, options{
			cfg:  engine.Config{Linger: time.Hour, PushRunInterval: perBatchRuns},
			wrap: func(s engine.Store) engine.Store { g.Store = s; return g },
		})
		first := make(chan error, 1)
		go func() {
			_, err := b.submit(context.Background(), t, record(0))
			first <- err
		}()
		<-g.entered
		ctx, cancel := context.WithCancel(context.Background())
		var kept engine.Result
		parallel(2, func(i int) {
			if i == 0 {
				time.AfterFunc(50*time.Millisecond, cancel)
				_, err := b.submit(ctx, t, record(1))
				if !errors.Is(err, context.Canceled) || !errors.Is(err, engine.ErrWithdrawn) {
					t.Errorf("cancelled Submit: err = %v", err)
				}
				close(g.gate) // let the first write finish; the group follows
				return
			}
			var err error
			if kept, err = b.submit(context.Background(), t, record(2)); err != nil {
				t.Errorf("Submit: %v", err)
			}
		})
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		recs := b.records(t)
		if len(recs) != 2 || strings.Contains(string(recs[0].Data)+string(recs[1].Data), "st-1") {
			t.Errorf("records %+v; want all but the withdrawn one", recs)
		}
		for _, r := range b.runs(t) {
			if r.Stored != 1 {
				t.Errorf("run %+v", r)
			}
		}
		if kept.RunID == uuid.Nil {
			t.Error("no run for the kept submission")
		}
	})
}

// gateStore holds every write until the gate opens, and tells when a
// write arrives.
type gateStore struct {
	engine.Store
	entered chan struct{}
	gate    chan struct{}
}

func newGate() *gateStore {
	return &gateStore{entered: make(chan struct{}, 100), gate: make(chan struct{})}
}

func (g *gateStore) WriteBatch(ctx context.Context, b *store.Batch) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.WriteBatch(ctx, b)
}

func TestCancelledDuringWriteStillCommits(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		g := newGate()
		b := setup(t, st, options{wrap: func(s engine.Store) engine.Store { g.Store = s; return g }})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := b.submit(ctx, t, record(7))
			errc <- err
		}()
		<-g.entered // the batch is being written
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, engine.ErrOutcomeUnknown) {
			t.Fatalf("Submit: err = %v", err)
		}
		close(g.gate)
		// Close waits for the write, which commits: the caller could not
		// know, as documented.
		if err := b.eng.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(b.records(t)); n != 1 {
			t.Errorf("%d records; the batch should have committed", n)
		}
	})
}

func TestCloseWritesWhatWasSubmitted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		// The first write is held; the group behind it would wait an hour
		// for more submissions, but Close writes it at once.
		g := newGate()
		b := setup(t, st, options{
			cfg:  engine.Config{Linger: time.Hour, PushRunInterval: perBatchRuns},
			wrap: func(s engine.Store) engine.Store { g.Store = s; return g },
		})
		errc := make(chan error, 4)
		go func() {
			_, err := b.submit(context.Background(), t, record(0))
			errc <- err
		}()
		<-g.entered
		for i := 1; i <= 3; i++ {
			go func() {
				_, err := b.submit(context.Background(), t, record(i))
				errc <- err
			}()
		}
		time.Sleep(20 * time.Millisecond) // let them reach the batcher
		closed := make(chan error, 1)
		go func() { closed <- b.eng.Close(context.Background()) }()
		close(g.gate)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		ok := 0
		for range 4 {
			switch err := <-errc; {
			case err == nil:
				ok++
			case errors.Is(err, engine.ErrClosed): // came after Close; told so
			default:
				t.Errorf("Submit: %v", err)
			}
		}
		if n := len(b.records(t)); n != ok || n < 2 {
			t.Errorf("%d records stored, %d submissions succeeded", n, ok)
		}
		// A closed engine takes nothing.
		if _, err := b.submit(context.Background(), t, record(9)); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("Submit after Close: err = %v", err)
		}
		if _, err := b.eng.RunBatch(context.Background(), b.p, b.c, nil, core.TriggerPoll, nil); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("RunBatch after Close: err = %v", err)
		}
	})
}

func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		g := newGate() // never opens
		b := setup(t, st, options{wrap: func(s engine.Store) engine.Store { g.Store = s; return g }})
		errc := make(chan error, 1)
		go func() {
			_, err := b.submit(context.Background(), t, record(1))
			errc <- err
		}()
		<-g.entered
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := b.eng.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: err = %v", err)
		}
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Submit: err = %v; its write was cancelled", err)
		}
		if n := len(b.records(t)); n != 0 {
			t.Errorf("%d records stored", n)
		}
	})
}

func TestRunBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{})
		ctx := context.Background()
		// A poll that found nothing is still a run.
		res, err := b.eng.RunBatch(ctx, b.p, b.c, nil, core.TriggerPoll, json.RawMessage(`{"cursor":1}`))
		if err != nil || res.Accepted != 0 || res.RunID == uuid.Nil {
			t.Fatalf("RunBatch: %+v, %v", res, err)
		}
		res, err = b.eng.RunBatch(ctx, b.p, b.c, decode(t, record(1), record(2), `{"t":"x"}`), core.TriggerUpload, nil)
		if err != nil || res.Accepted != 2 || res.Rejected != 1 {
			t.Fatalf("RunBatch: %+v, %v", res, err)
		}
		runs := b.runs(t)
		if len(runs) != 2 {
			t.Fatalf("runs %+v", runs)
		}
		for _, r := range runs {
			switch r.Trigger {
			case core.TriggerPoll:
				if r.Fetched != 0 {
					t.Errorf("poll run %+v", r)
				}
			case core.TriggerUpload:
				if r.ID != res.RunID || r.Stored != 2 || r.Rejected != 1 {
					t.Errorf("upload run %+v", r)
				}
			}
		}
		if len(b.records(t)) != 2 || b.cache.Len(b.p.ID) != 2 || len(b.published(t)) != 1 {
			t.Error("the upload's records did not reach store, cache and broker")
		}
	})
}

func TestWarm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{cfg: engine.Config{Linger: 5 * time.Millisecond}})
		for i := range 30 {
			if _, err := b.submit(context.Background(), t, record(i)); err != nil {
				t.Fatal(err)
			}
		}
		// A restarted process: an empty cache, warmed while batches
		// commit. No record may appear twice.
		fresh, err := cache.New(cache.Config{})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := engine.New(engine.Config{Compiler: compiler, Linger: time.Millisecond}, st, fresh, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(context.Background())
		parallel(41, func(i int) {
			if i == 40 {
				if err := eng.Warm(context.Background(), b.p); err != nil {
					t.Errorf("Warm: %v", err)
				}
				return
			}
			accepted, rejected := eng.Process(b.c, decode(t, record(100+i)), time.Now())
			if _, err := eng.Submit(context.Background(), b.p, b.c, accepted, rejected, core.TriggerWebhook); err != nil {
				t.Errorf("Submit: %v", err)
			}
		})
		if !fresh.Has(b.p.ID) {
			t.Fatal("not warmed")
		}
		got := cacheIDs(fresh.Recent(b.p.ID, 0))
		if want := ids(b.records(t)); !slices.Equal(got, want) {
			t.Errorf("cached ids %v\nstored ids %v", got, want)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.Open(t, storetest.SQLite), options{})
	if _, err := b.submit(context.Background(), t, record(1), record(2), `{"t":"x"}`); err != nil {
		t.Fatal(err)
	}
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[name] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[name] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"tributary_engine_records_total/accepted":                             2,
		"tributary_engine_records_total/rejected":                             1,
		"tributary_engine_batch_records":                                      1,
		"tributary_engine_batch_submissions":                                  1,
		"tributary_engine_commit_seconds":                                     1,
		"tributary_engine_commit_errors_total":                                0,
		"tributary_engine_pipeline_records_total/accepted/" + b.p.ID.String(): 2,
		"tributary_engine_pipeline_records_total/rejected/" + b.p.ID.String(): 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// A second engine on the same registry is a configuration error.
	if _, err := engine.New(engine.Config{Compiler: compiler, Registerer: b.reg}, b.st, nil, nil, nil); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}

// TestAwkwardValuesRejectJustTheirRecord checks that values one backend or
// the other cannot store — numbers out of range, U+0000, lone surrogates,
// deep nesting — reject just their record, or are normalised, on every
// backend, and that the pipeline's records and raw series still read.
func TestAwkwardValuesRejectJustTheirRecord(t *testing.T) {
	deep := func(levels int) string {
		return strings.Repeat(`{"a":`, levels-1) + `{"t":1}` + strings.Repeat(`}`, levels-1)
	}
	huge := "1" + strings.Repeat("0", 200_000)
	for _, spec := range []struct{ name, spec string }{
		{"no mapping", `{"name":"n","kind":"webhook","source":{}}`},
		{"mapping", `{"name":"n","kind":"webhook","source":{},"mapping":{"fields":{"t":{"path":"t","type":"number"},"v":{"path":"v"}}}}`},
	} {
		t.Run(spec.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, st store.Store) {
				b := setup(t, st, options{spec: spec.spec})
				inputs := []string{
					`{"t":1,"v":1e999999}`,
					`{"t":1,"v":` + huge + `}`,
					`{"t":1,"v":-1e999999}`,
					`{"t":1,"v":"x\u0000y"}`,
					`{"t":2,"v":"lone \ud800 surrogate"}`,
					`{"t":3,"v":1e-400}`,
					`{"t":4,"v":123456789012345678901234567890}`,
				}
				if spec.name == "no mapping" {
					inputs = append(inputs, deep(engine.MaxDepth), deep(engine.MaxDepth+1), deep(5000))
				} else {
					inputs = append(inputs, `{"t":5,"v":`+deep(engine.MaxDepth+1)+`}`)
				}
				res, err := b.submit(context.Background(), t, inputs...)
				if err != nil {
					t.Fatal(err)
				}
				wantAccepted := 4 // the surrogate, 1e-400, the long integer and the deepest allowed
				if spec.name == "mapping" {
					wantAccepted = 3
				}
				if res.Accepted != wantAccepted || res.Accepted+res.Rejected != len(inputs) {
					t.Fatalf("result %+v, want %d accepted of %d", res, wantAccepted, len(inputs))
				}
				var reasons []string
				for _, r := range b.rejected(t) {
					reasons = append(reasons, r.Reason)
					if len(r.Reason) > 300 {
						t.Errorf("reason of %d bytes: %.100s", len(r.Reason), r.Reason)
					}
				}
				all := strings.Join(reasons, "\n")
				for _, want := range []string{"out of range", "U+0000", "nested more than 64 levels deep"} {
					if !strings.Contains(all, want) {
						t.Errorf("no rejection reason contains %q:\n%s", want, all)
					}
				}
				recs := b.records(t)
				if len(recs) != wantAccepted {
					t.Fatalf("%d records stored, want %d", len(recs), wantAccepted)
				}
				for _, r := range recs {
					if strings.Contains(string(r.Data), "surrogate") && !strings.Contains(string(r.Data), "\ufffd") {
						t.Errorf("lone surrogate stored as %s", r.Data)
					}
				}
				now := time.Now()
				if _, err := b.st.Series(context.Background(), b.team, b.p.ID, store.SeriesQuery{
					Field: "t", From: now.Add(-time.Hour), To: now.Add(time.Hour), Source: "raw",
				}); err != nil {
					t.Fatalf("raw series: %v", err)
				}
			})
		})
	}
}
