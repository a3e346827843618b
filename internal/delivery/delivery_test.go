package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func spec(name string, sinks ...string) string {
	return `{"name":"` + name + `","kind":"webhook","source":{},"sinks":[` + strings.Join(sinks, ",") + `]}`
}

func httpSink(name, url string, extra ...string) string {
	settings := `"url":"` + url + `"`
	for _, e := range extra {
		settings += "," + e
	}
	return `{"name":"` + name + `","http":{` + settings + `}}`
}

func TestDeliversSignedBatches(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		secret := signature.GenerateSecret()
		if _, err := b.vault.Create(context.Background(), b.team.ID, "hook-key", []byte(secret.Encode())); err != nil {
			t.Fatal(err)
		}
		verifier, err := signature.NewVerifier(signature.Config{Secrets: []signature.Secret{secret}})
		if err != nil {
			t.Fatal(err)
		}
		var badSignatures atomic.Int32
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
		})
		rc.answer = func(n int, w http.ResponseWriter, r *http.Request) {
			got := rc.got()[n-1]
			if err := verifier.Verify(r.Context(), got.header, got.body, time.Now()); err != nil {
				badSignatures.Add(1)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte("thanks")) // any 2xx body is fine
		}
		p := b.pipeline(t, spec("signed", httpSink("alerts", rc.URL, `"signing_secret":"hook-key"`)))
		for i := range 3 {
			b.ingest(t, p, i*10, 10)
		}
		ds := b.waitStatus(t, p, "alerts", 3, core.DeliveryDelivered)
		if n := badSignatures.Load(); n > 0 {
			t.Fatalf("%d requests failed signature verification", n)
		}
		got := rc.numbers(t)
		for n := range 30 {
			if got[n] != 1 {
				t.Fatalf("record %d arrived %d times", n, got[n])
			}
		}
		keys := map[string]bool{}
		for _, d := range ds {
			if d.Attempts != 1 || d.Records != 10 || d.Latency <= 0 || d.DeliveredAt == nil || d.LastError != "" || d.RunID == uuid.Nil || !strings.HasPrefix(d.Key, "dlv_") {
				t.Errorf("delivery = %+v", d)
			}
			keys[d.Key] = true
		}
		for _, r := range rc.got() {
			if id := r.header.Get("Webhook-Id"); !keys[id] {
				t.Errorf("webhook-id %q is not a delivery's key", id)
			}
		}
		sts, err := b.st.SinkStates(context.Background(), b.team.ID, p.ID)
		if err != nil || len(sts) != 1 || sts[0].Delivered != 3 || sts[0].Records != 30 || sts[0].Status != core.SinkActive || sts[0].LatencyTotal <= 0 {
			t.Fatalf("sink states = %+v, %v", sts, err)
		}
		if n := metricSum(t, b, "tributary_sink_records_delivered_total"); n != 30 {
			t.Errorf("records delivered metric = %v", n)
		}
	})
}

// metricSum sums the samples of a counter family of the bundle's registry.
func metricSum(t *testing.T, b *bundle, name string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n <= 2 {
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte("<html>oops</html>"))
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
		p := b.pipeline(t, spec("retries", httpSink("flaky", rc.URL)))
		b.ingest(t, p, 0, 5)
		ds := b.waitStatus(t, p, "flaky", 1, core.DeliveryDelivered)
		if ds[0].Attempts != 3 || ds[0].LastError != "" {
			t.Fatalf("delivery = %+v, want delivered at the third attempt", ds[0])
		}
		reqs := rc.got()
		if len(reqs) != 3 {
			t.Fatalf("%d requests, want 3", len(reqs))
		}
		ids := map[string]bool{}
		for _, r := range reqs {
			ids[r.header.Get("Webhook-Id")] = true
		}
		if len(ids) != 1 {
			t.Fatalf("the idempotency id changed between attempts: %v", ids)
		}
		if got := rc.numbers(t); len(got) != 5 || got[4] != 3 {
			t.Fatalf("records received %v", got)
		}
		sts, _ := b.st.SinkStates(context.Background(), b.team.ID, p.ID)
		if len(sts) != 1 || sts[0].Failed != 2 || sts[0].ConsecutiveFailures != 0 || sts[0].Status != core.SinkActive {
			t.Fatalf("sink state %+v", sts)
		}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		p := b.pipeline(t, spec("limited", httpSink("limited", rc.URL)))
		b.ingest(t, p, 0, 1)
		ds := b.waitStatus(t, p, "limited", 1, core.DeliveryDelivered)
		reqs := rc.got()
		if len(reqs) != 2 || ds[0].Attempts != 2 {
			t.Fatalf("%d requests, delivery %+v", len(reqs), ds[0])
		}
		// The schedule says 50ms; the receiver said one second.
		if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
			t.Fatalf("retried after %s, before the receiver's Retry-After of 1s", gap)
		}
	})
}

func TestDeadThenRetriedByHand(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		var healthy atomic.Bool
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			if healthy.Load() {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		})
		p := b.pipeline(t, spec("dead", httpSink("down", rc.URL)))
		b.ingest(t, p, 0, 4)
		ds := b.waitStatus(t, p, "down", 1, core.DeliveryDead)
		d := ds[0]
		if d.Attempts != 4 || !strings.Contains(d.LastError, "gave up after 4 attempts") || !strings.Contains(d.LastError, "502") {
			t.Fatalf("dead delivery = %+v", d)
		}
		if _, err := b.svc.Retry(context.Background(), b.team.ID, p.ID, "other", d.ID); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("retry through another sink: err = %v", err)
		}
		healthy.Store(true)
		retried, err := b.svc.Retry(context.Background(), b.team.ID, p.ID, "down", d.ID)
		if err != nil || retried.Status != core.DeliveryPending {
			t.Fatalf("retry = %+v, %v", retried, err)
		}
		if _, err := b.svc.Retry(context.Background(), b.team.ID, p.ID, "down", d.ID); !errors.Is(err, core.ErrConflict) {
			t.Fatalf("retry of a pending delivery: err = %v", err)
		}
		ds = b.waitStatus(t, p, "down", 1, core.DeliveryDelivered)
		if ds[0].ID != d.ID || ds[0].Key != d.Key {
			t.Fatalf("the retried delivery is %+v, was %+v", ds[0], d)
		}
		reqs := rc.got()
		if len(reqs) != 5 || reqs[4].header.Get("Webhook-Id") != d.Key {
			t.Fatalf("%d requests; the last carries id %q, want %q", len(reqs), reqs[len(reqs)-1].header.Get("Webhook-Id"), d.Key)
		}
	})
}

func TestGoneDisablesOnlyThatSink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		gone := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
		good := newReceiver(t, nil)
		p := b.pipeline(t, spec("gone", httpSink("old", gone.URL), httpSink("new", good.URL)))
		b.ingest(t, p, 0, 2)
		ds := b.waitStatus(t, p, "old", 1, core.DeliveryDead)
		if ds[0].Attempts != 1 || !strings.Contains(ds[0].LastError, "410") {
			t.Fatalf("delivery to a gone endpoint = %+v", ds[0])
		}
		b.waitStatus(t, p, "new", 1, core.DeliveryDelivered)
		var cur core.Pipeline
		waitFor(t, "the sink to be disabled in the spec", func() bool {
			var err error
			cur, err = b.st.Pipeline(context.Background(), b.team.ID, p.ID)
			return err == nil && cur.Version == p.Version+1
		})
		spec, err := pipeline.Decode(cur.Spec)
		if err != nil {
			t.Fatal(err)
		}
		sinks, _ := delivery.ParseSinks(spec.Sinks)
		if len(sinks) != 2 || sinks[0].Enabled || !sinks[1].Enabled {
			t.Fatalf("sinks after a 410 = %+v", sinks)
		}
		sts, _ := b.st.SinkStates(context.Background(), b.team.ID, p.ID)
		if len(sts) != 2 || sts[1].Sink != "old" || sts[1].Status != core.SinkDisabled || !strings.Contains(sts[1].Reason, "410") {
			t.Fatalf("sink states = %+v", sts)
		}
		// Later batches reach only the enabled sink.
		b.ingest(t, p, 2, 2)
		b.waitStatus(t, p, "new", 2, core.DeliveryDelivered)
		if n := len(b.deliveries(t, p, "old")); n != 1 {
			t.Fatalf("%d deliveries to the disabled sink, want 1", n)
		}
		if n := len(gone.got()); n != 1 {
			t.Fatalf("the gone endpoint got %d requests, want 1", n)
		}
	})
}

func TestFailingSinkDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, func(o *options) {
			o.cfg.Schedule = []time.Duration{time.Second, time.Second, time.Second, time.Second}
			o.cfg.Workers = 4
		})
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		hang := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		good := newReceiver(t, nil)
		p := b.pipeline(t, spec("mixed", httpSink("hang", hang.URL, `"timeout":"1s"`), httpSink("good", good.URL)))
		start := time.Now()
		for i := range 20 {
			b.ingest(t, p, i, 1)
		}
		b.waitStatus(t, p, "good", 20, core.DeliveryDelivered)
		// How long this takes depends on the machine; what is checked is
		// that the good sink is served at all while its neighbour hangs
		// (waitStatus gives up otherwise), and below, that the hanging
		// sink is not given a worker per delivery.
		t.Logf("the good sink got its 20 deliveries in %s", time.Since(start))
		waitFor(t, "the hanging sink to be failing", func() bool {
			sts, _ := b.st.SinkStates(context.Background(), b.team.ID, p.ID)
			for _, s := range sts {
				if s.Sink == "hang" && s.Status == core.SinkFailing {
					return true
				}
			}
			return false
		})
		// After its first failure, the hanging sink is probed by one
		// delivery at a time, not eight.
		if n := len(hang.got()); n > 12 {
			t.Errorf("the hanging sink got %d requests", n)
		}
	})
}

func TestInlineRecordsWhenNotPersisted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		rc := newReceiver(t, nil)
		p := b.pipeline(t, `{"name":"transient","kind":"webhook","source":{},"persist":false,"sinks":[`+httpSink("out", rc.URL)+`]}`)
		b.ingest(t, p, 0, 3)
		ds := b.waitStatus(t, p, "out", 1, core.DeliveryDelivered)
		if ds[0].Records != 3 {
			t.Fatalf("delivery = %+v", ds[0])
		}
		var got body
		if err := json.Unmarshal(rc.got()[0].body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Records) != 3 || got.Records[0].ID != 0 || rc.numbers(t)[2] != 1 {
			t.Fatalf("body = %s", rc.got()[0].body)
		}
		if recs, _ := b.st.Records(context.Background(), b.team.ID, p.ID, store.RecordQuery{}); len(recs) != 0 {
			t.Fatalf("%d records stored by a pipeline that does not persist", len(recs))
		}
	})
}

func TestOversizedBatchIsSplit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		rc := newReceiver(t, nil)
		p := b.pipeline(t, spec("big", httpSink("small", rc.URL, `"max_records":10`)))
		b.ingest(t, p, 0, 25)
		ds := b.waitStatus(t, p, "small", 1, core.DeliveryDelivered)
		reqs := rc.got()
		if len(reqs) != 3 {
			t.Fatalf("%d requests, want 3 of at most 10 records", len(reqs))
		}
		for i, r := range reqs {
			var got body
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if want := min(10, 25-10*i); len(got.Records) != want {
				t.Errorf("request %d carries %d records, want %d", i, len(got.Records), want)
			}
			if id := r.header.Get("Webhook-Id"); id != ds[0].Key+"."+string(rune('0'+i)) {
				t.Errorf("request %d has id %q", i, id)
			}
		}
		if got := rc.numbers(t); len(got) != 25 {
			t.Fatalf("%d distinct records, want 25", len(got))
		}
	})
}

func TestForbiddenHostIsDeadWithTheReason(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		// DNS says the sink's host is 127.0.0.1, and loopback is not
		// allowed: the save-time check cannot know, the dial refuses.
		b := setup(t, st, func(o *options) { o.resolver = fakeResolver{netip.MustParseAddr("127.0.0.1")} })
		rc := newReceiver(t, nil)
		port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
		p := b.pipeline(t, spec("ssrf", httpSink("inside", "http://internal.example.com:"+port+"/admin")))
		b.ingest(t, p, 0, 1)
		ds := b.waitStatus(t, p, "inside", 1, core.DeliveryDead)
		if ds[0].Attempts != 1 || !strings.Contains(ds[0].LastError, "loopback") {
			t.Fatalf("delivery = %+v", ds[0])
		}
		if n := len(rc.got()); n != 0 {
			t.Fatalf("the forbidden address got %d requests", n)
		}
	})
}

type fakeResolver struct{ addr netip.Addr }

func (r fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{r.addr}, nil
}

func TestReplayRedeliversARange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, func(o *options) { o.cfg.ReplayStepPages = 1 })
		// Records stored before the sink existed.
		p := b.pipeline(t, spec("history"))
		for i := range 3 {
			b.ingest(t, p, i*1000, 1000) // 3000 records
		}
		recs, err := b.st.Records(context.Background(), b.team.ID, p.ID, store.RecordQuery{Limit: 1})
		if err != nil || len(recs) != 1 {
			t.Fatal(recs, err)
		}
		rc := newReceiver(t, nil)
		// Add the sink: a new version of the spec.
		spec2 := spec("history", httpSink("late", rc.URL))
		c, err := compiler.Parse([]byte(spec2))
		if err != nil {
			t.Fatal(err)
		}
		canonical, _ := c.Spec.Canonical()
		if p, err = b.st.UpdatePipeline(context.Background(), b.team.ID, p.ID, store.PipelineUpdate{Name: "history", Kind: core.KindWebhook, Spec: canonical}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.StartReplay(context.Background(), b.team.ID, p.ID, "nope", time.Now().Add(-time.Hour), time.Now()); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("replay to an unknown sink: err = %v", err)
		}
		if _, err := b.svc.StartReplay(context.Background(), b.team.ID, p.ID, "late", time.Now(), time.Now().Add(-time.Hour)); !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("replay of an empty range: err = %v", err)
		}
		r, err := b.svc.StartReplay(context.Background(), b.team.ID, p.ID, "late", time.Now().Add(-time.Hour), recs[0].TS.Add(time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		if r.Total != 3000 || r.Status != core.ReplayRunning {
			t.Fatalf("replay = %+v", r)
		}
		waitFor(t, "the replay to be delivered", func() bool {
			r, err = b.st.Replay(context.Background(), b.team.ID, r.ID)
			return err == nil && r.Status == core.ReplayDone && r.RecordsDelivered == 3000
		})
		if r.Enqueued != 3000 || r.Deliveries[core.DeliveryDelivered] != 3 {
			t.Fatalf("replay = %+v", r)
		}
		got := rc.numbers(t)
		if len(got) != 3000 {
			t.Fatalf("%d distinct records replayed, want 3000", len(got))
		}
		for n, c := range got {
			if c != 1 {
				t.Fatalf("record %d replayed %d times", n, c)
			}
		}
		// A second replay of the same records carries the same ids.
		first := map[string]bool{}
		for _, req := range rc.got() {
			first[req.header.Get("Webhook-Id")] = true
		}
		r2, err := b.svc.StartReplay(context.Background(), b.team.ID, p.ID, "late", time.Now().Add(-time.Hour), recs[0].TS.Add(time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the second replay", func() bool {
			r2, err = b.st.Replay(context.Background(), b.team.ID, r2.ID)
			return err == nil && r2.Status == core.ReplayDone && r2.RecordsDelivered == 3000
		})
		for _, req := range rc.got()[3:] {
			if !first[req.header.Get("Webhook-Id")] {
				t.Fatalf("the second replay sent a new id %q", req.header.Get("Webhook-Id"))
			}
		}
	})
}
